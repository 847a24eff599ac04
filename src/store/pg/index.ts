/** The fleet store (PostgreSQL): see fleet-store.ts, shipper.ts, mirror.ts; credentials.ts; cluster.ts (tests, demo). */
export { FleetStore, NOTIFY_CHANNEL, PG_MIGRATIONS, type FleetModel, type ModelStatus, type Rollout, type ShipBatch } from './fleet-store.ts';
export { pgTarget, redact, type PgTarget } from './credentials.ts';
export { Shipper, ShipperThread, ShipperCrash, defaultStateFile, type ShipperOptions, type ShipperStats } from './shipper.ts';
export { pgUnavailable, startPgCluster, type PgCluster } from './cluster.ts';
export { FleetMirror, type MirrorFilter, type MirrorStats } from './mirror.ts';
