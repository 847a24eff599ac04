/** The log: SQLite schema, migrations, reads and writes. See store.ts (Store) and writer.ts (TransitionWriter). */
export { Store, type RawRow, type ListOptions, type ReadOptions, type StoreCounts } from './store.ts';
export { TransitionWriter, type TransitionWriterOptions, type WriterStats, type CommittedTransition, type WriterTestHooks } from './writer.ts';
export { StoreOpenError, type OpenOptions } from './open.ts';
export { readLog } from './read-log.ts';
export { APPLICATION_ID, SCHEMA_VERSION } from './schema.ts';
export { IMAGE_CODEC, encodeImage, decodeImage } from './codec.ts';
export type * from './types.ts';
export { LockHeldError, ProcessLock, databaseLockFile, defaultLockDir, robotLockFile, type LockHolder } from './lock.ts';
