import { aquaInfo } from "./Aqua"
import type { BackendInfo } from "./Backend"
import { cargoInfo } from "./Cargo"
import { condaInfo } from "./Conda"
import { coreInfo } from "./core"
import { dotnetInfo } from "./Dotnet"
import { forgejoInfo } from "./Forgejo"
import { gemInfo } from "./Gem"
import { githubInfo } from "./GitHub"
import { gitlabInfo } from "./GitLab"
import { goModuleInfo } from "./GoModule"
import { httpInfo } from "./Http"
import { npmInfo } from "./Npm"
import { pipxInfo } from "./Pipx"
import { s3Info } from "./S3"
import { spmInfo } from "./Spm"
import { ubiInfo } from "./Ubi"

/** The built-in backends as `engine backends` lists them (no services needed). Loads every backend module. */
export const builtinBackends: ReadonlyArray<BackendInfo> = [
  httpInfo,
  npmInfo,
  coreInfo,
  githubInfo,
  gitlabInfo,
  forgejoInfo,
  ubiInfo,
  aquaInfo,
  s3Info,
  cargoInfo,
  goModuleInfo,
  gemInfo,
  pipxInfo,
  condaInfo,
  dotnetInfo,
  spmInfo
]

