/**
 * The MuJoCo cell as the evaluation's cell: connector selection by name and a factory that builds one SimCell
 * per connector with the run's settings (calibration error, start height, image size, nuisance).
 */
import { SimCell, type CellConfig } from '../sim/cell.ts';
import { findConnector, loadConnectors, type ConnectorDef } from '../sim/connectors.ts';
import type { EvalCell } from './evaluate.ts';

/** Cell settings shared by every connector of a run. */
export type SharedCellConfig = Omit<CellConfig, 'connector'>;

/** Connector definitions from `dir` (default: data/connectors), all or the named ones in the given order. */
export function selectConnectors(dir: string | null, names: readonly string[] | null): ConnectorDef[] {
  const all = dir === null ? loadConnectors() : loadConnectors(dir);
  if (all.length === 0) throw new Error(`no connector definitions found${dir === null ? '' : ` in ${dir}`}`);
  return names === null ? all : names.map((n) => findConnector(all, n));
}

/** createCell for `evaluate`: builds the SimCell of a connector on demand. */
export function simCellFactory(defs: readonly ConnectorDef[], shared: SharedCellConfig): (connector: string) => Promise<EvalCell> {
  return async (name: string): Promise<EvalCell> => SimCell.create({ ...shared, connector: findConnector(defs, name) });
}
