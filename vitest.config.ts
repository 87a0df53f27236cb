import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    globalSetup: ["test/globalSetup.ts"],
    include: ["libs/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: "forks",
    maxWorkers: 2
  }
})
