export {
  ArchiveError,
  type ArchiveFormat,
  decompressFile,
  detectFormat,
  extractArchive,
  type ExtractOptions,
  type ExtractSummary,
  formatFromExtension,
  formatFromFileName,
  hasSingleTopLevelDirectory,
  installFile,
  isArchive,
  isCompressedFile,
  topLevelEntries
} from "./Archive"
export {
  type Backend,
  type BackendContext,
  BackendError,
  type BackendInfo,
  BackendRegistry,
  type RequiredCommand,
  type ResolvedTool,
  type ToolRequest
} from "./Backend"
export { aquaInfo, makeAquaBackend } from "./Aqua"
export { type ArtifactOptions, discoverBinPaths, insideInstallDir, installArtifact } from "./Artifact"
export {
  type AssetTarget,
  assetPatternMatches,
  checksumAssets,
  checksumFromFile,
  isToolAsset,
  pickAsset,
  pickUbiAsset,
  rankAssets,
  scoreAsset,
  type UbiSelection
} from "./Assets"
export { cleanBinaryName } from "./BinaryName"
export {
  cargoInfo,
  cargoInstallFlags,
  type CrateSource,
  crateSource,
  DEFAULT_CARGO_INDEX,
  indexVersions,
  installStateToml,
  makeCargoBackend,
  packageVersion,
  sparseIndexPath
} from "./Cargo"
export {
  CONDA_CHANNEL_ALIAS,
  condaInfo,
  condaSubdir,
  channelUrl as condaChannelUrl,
  DEFAULT_CONDA_CHANNEL,
  makeCondaBackend,
  virtualPackages as condaVirtualPackages
} from "./Conda"
export { launcherScript as condaLauncherScript, replacePrefix as condaReplacePrefix } from "./conda/Link"
export {
  compareCondaVersions,
  type MatchSpec,
  MatchSpecError,
  parseMatchSpec,
  parseVersion as parseCondaVersion,
  specMatches
} from "./conda/MatchSpec"
export { type Candidate as CondaCandidate, indexChannel as condaIndex, type PackageRecord as CondaPackageRecord } from "./conda/Repodata"
export { solve as condaSolve, type SolveResult as CondaSolveResult, type VirtualPackage as CondaVirtualPackage } from "./conda/Solve"
export { CORE_TOOL_NAMES, coreInfo, makeCoreBackend } from "./core"
export {
  type Checksum,
  type ChecksumAlgorithm,
  ChecksumMismatchError,
  defaultDownloaderConfig,
  DownloadError,
  Downloader,
  type DownloaderConfig,
  DownloaderLive,
  type DownloaderShape,
  type DownloadRequest,
  type DownloadResult,
  layerDownloader,
  makeDownloader,
  parseChecksum,
  type TextResponse
} from "./Downloader"
export {
  DEFAULT_NUGET_INDEX,
  dotnetInfo,
  makeDotnetBackend,
  nugetFlatUrl,
  nugetResources,
  nugetSearchUrl
} from "./Dotnet"
export { FORGEJO_API, forgejoForge, forgejoInfo, makeForgejoBackend } from "./Forgejo"
export {
  DEFAULT_GEM_SOURCE,
  firstGemSource,
  gemInfo,
  gemWrapper,
  makeGemBackend,
  rewriteRubyShebang,
  rubyShebangLine
} from "./Gem"
export { GITHUB_API, githubForge, githubInfo, makeGitHubBackend } from "./GitHub"
export { GITLAB_API, gitlabForge, gitlabInfo, makeGitLabBackend } from "./GitLab"
export {
  DEFAULT_GOPROXY,
  encodeModulePath,
  type GoProxy,
  goModuleInfo,
  makeGoModuleBackend,
  matchesGoPatterns,
  modulePathCandidates,
  parseGoproxy
} from "./GoModule"
export { fileNameFromUrl, httpInfo, makeHttpBackend } from "./Http"
export {
  installDir,
  kebabCase,
  resolveToolPath,
  rustPathHash,
  toolDirName,
  type VersionDirOptions,
  versionDirName,
  words
} from "./Naming"
export { DEFAULT_REGISTRY, makeNpmBackend, npmInfo, packumentUrl, packumentVersions, resolveNpmVersion, splitArgs } from "./Npm"
export {
  DEFAULT_PIPX_REGISTRY,
  indexUrlOfRegistry,
  isPep440Prerelease,
  makePipxBackend,
  normalizePackageName,
  pipIndexUrl,
  pipxInfo,
  pipxRequirement,
  type PipxSource,
  pipxSource,
  pypiVersions,
  simpleIndexVersions,
  versionFromDistribution
} from "./Pipx"
export {
  hostPlatform,
  optionString,
  type Platform,
  platformAliases,
  platformKey,
  platformOption,
  platformsWithOption
} from "./Platform"
export { type MissingCommand, missingCommands } from "./Preflight"
export { CommandError, type CommandOutput, run, type RunOptions, which, withInstallEnv } from "./Process"
export { builtinBackends } from "./Builtins"
export {
  backendRegistryLayer,
  BackendRegistryLive,
  loadBuiltinBackends,
  makeBackendRegistry,
  rejectUnsupported
} from "./Registry"
export {
  type Forge,
  makeForgeBackend,
  makeReleaseClient,
  nextPageUrl,
  type Release,
  type ReleaseAsset,
  type ReleaseClient,
  releaseVersions,
  resolveRelease,
  tagCandidates,
  type TagFilter,
  versionOfTag
} from "./Releases"
export {
  applyFilterBins,
  type BundleBinary,
  bundleBinaries,
  bundleDirs,
  executableProducts,
  filterBins,
  makeSpmBackend,
  selectBundleAsset,
  type SpmPackage,
  spmInfo,
  spmPackage,
  swiftTriples
} from "./Spm"
export { renderTemplate, type TemplateValues } from "./Template"
export { makeUbiBackend, ubiInfo } from "./Ubi"
export {
  compareVersions,
  describeAvailable,
  fuzzyMatchVersions,
  isPrerelease,
  matchVersion,
  resolveFromList,
  sortVersions
} from "./Versions"
