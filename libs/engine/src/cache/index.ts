export { type ActionCache, type ActionCacheOptions, makeActionCache, type RunRecord } from "./ActionCache"
export {
  type ActionRecord,
  ActionRecordSchema,
  type BlobCheck,
  CacheError,
  type CacheEntryInfo,
  type CacheStats,
  type CacheStore,
  type Digest,
  type DocumentDir,
  type DocumentRead,
  hashRegularFile,
  isDigest,
  openCacheStore,
  type PruneOptions,
  type PruneResult,
  trustRememberedDocuments,
  writeFileAtomic
} from "./CacheStore"
export { fingerprintFile, fingerprintTree, fingerprintTreeNow, hashTreeFile, TreeError, type TreeFingerprint, type TreeFingerprintOptions } from "./TreeFingerprint"
