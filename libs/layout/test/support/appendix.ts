import type { ImageConfig } from "../../src/index"

// The appendix project of mise-oci-behaviour.md, rebuilt with mise 2026.9.15: every digest below is mise's own.
export const appendixConfig: ImageConfig = {
  created: "2023-11-14T22:13:20Z",
  author: "mise",
  architecture: "amd64",
  os: "linux",
  config: {
    Env: [
      "FOO=bar",
      "NODE_ENV=production",
      "MISE_DATA_DIR=/mise",
      "MISE_CONFIG_DIR=/etc/mise",
      "PATH=/mise/installs/http-hello/1.0.0/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ],
    WorkingDir: "/app",
    Labels: {
      "org.opencontainers.image.created": "2023-11-14T22:13:20Z",
      "org.opencontainers.image.source": "https://example.com/x",
      "dev.mise.version": "2026.9.15",
      "dev.mise.tools.http.hello": "1.0.0"
    }
  },
  rootfs: {
    type: "layers",
    diff_ids: [
      "sha256:75e30ab019a45637569224cb5b27e528755ab6c5c702935d54ac91f756aa3184",
      "sha256:ecc7c7b931f2fe068b73de13fdb4491d5e696e9ebd0d97cb5b763be1a636c1c7"
    ]
  }
}
