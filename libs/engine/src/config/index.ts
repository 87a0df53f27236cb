export { discoverConfigs, discoveryContext, miseEnvironments, configFilenames, LOCAL_CONFIG_FILENAMES } from "./ConfigDiscovery"
export type { ConfigKind, ConfigScope, DiscoveredConfig, DiscoveryContext } from "./ConfigDiscovery"
export { ConfigError, formatConfigError } from "./ConfigError"
export type { ConfigErrorFacts } from "./ConfigError"
export { parseConfigText, readConfigFile } from "./ConfigFile"
export type { ConfigFileInfo } from "./ConfigFile"
export type { EnvDirective } from "./EnvDirective"
export { parseEnvFile, resolveEnv } from "./EnvResolver"
export type { ResolvedEnv } from "./EnvResolver"
export { lockedVersionFor, readLockfile } from "./Lockfile"
export type { LockedPlatform, LockedTool, Lockfile } from "./Lockfile"
export {
  emptyOciConfig,
  mergeOciConfigs,
  OCI_KEYS,
  parseCopy,
  parseOwner,
  resolveOwner,
  validateCopy,
  validateMountPoint
} from "./OciConfig"
export type { LayerOwner, OciConfig, OciCopy, ValueOrigin } from "./OciConfig"
export { loadProject, NO_PROJECT_CONFIG_MESSAGE } from "./Project"
export type { LoadProjectOptions, Project } from "./Project"
export { ociSettings, SETTING_DEFAULTS } from "./Settings"
export type { OciSettings, SettingValue, Settings } from "./Settings"
export { renderTemplate } from "./Template"
export type { TemplateContext } from "./Template"
export { CORE_TOOLS, hostToolPlatform, parseToolKey, toolSupportsPlatform } from "./Tools"
export type { ToolOptionValue, ToolPlatform, ToolSource, ToolSpec } from "./Tools"
