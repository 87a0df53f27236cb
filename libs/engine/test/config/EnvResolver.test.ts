import { Effect, Either, Exit } from "effect"
import { parse } from "smol-toml"
import { describe, expect, it } from "vitest"
import type { ConfigError } from "../../src/config/ConfigError"
import { envDirectivesFromToml } from "../../src/config/EnvDirective"
import { parseEnvFile, resolveEnv, resolveVars, type EnvResolveContext, type EnvSource } from "../../src/config/EnvResolver"
import { makeTomlLocator } from "../../src/config/TomlLocator"

const source = (file: string, text: string, section: "env" | "vars" = "env"): EnvSource => {
  const doc = parse(text)
  return {
    file,
    root: file.slice(0, file.lastIndexOf("/")),
    directives: Either.getOrThrow(envDirectivesFromToml(doc[section], section)),
    locate: makeTomlLocator(text).locate
  }
}

const files: Record<string, string> = {
  "/p/.env": "A=from-dotenv\nB=\"quoted value\"\n",
  "/p/extra.json": '{"J": "json", "N": 1}',
  "/p/extra.toml": 'T = "toml"\n'
}

const ctx = (overrides: Partial<EnvResolveContext> = {}): EnvResolveContext => ({
  hostEnv: { PATH: "/usr/bin", HOME: "/home/u", ZED: "z" },
  cwd: "/p",
  home: "/home/u",
  vars: {},
  ociEnv: {},
  readFile: (file) => Effect.succeed(files[file]),
  ...overrides
})

const run = (sources: ReadonlyArray<EnvSource>, overrides: Partial<EnvResolveContext> = {}) =>
  Effect.runSync(resolveEnv(sources, ctx(overrides)))

const failure = (sources: ReadonlyArray<EnvSource>, overrides: Partial<EnvResolveContext> = {}): ConfigError => {
  const exit = Effect.runSyncExit(resolveEnv(sources, ctx(overrides)))
  if (Exit.isSuccess(exit) || exit.cause._tag !== "Fail") throw new Error("expected a failure")
  return exit.cause.error
}

describe("resolveEnv", () => {
  it("bakes only vars set by [env]: host-env keys keep their sorted host position, new keys follow in declaration order", () => {
    const result = run([source("/p/mise.toml", '[env]\nFOO = "bar"\nPATH = "/x:{{ env.PATH }}"\nAAA = "1"\nNUM = 42\nYES = true\n')])
    expect(result.env.vars).toEqual([
      ["PATH", "/x:/usr/bin"],
      ["FOO", "bar"],
      ["AAA", "1"],
      ["NUM", "42"],
      ["YES", "true"]
    ])
    expect(result.env.bakedCount).toBe(5)
  })

  it("lets a more specific file replace a value in place, and sees earlier values in templates", () => {
    const parent = source("/p/mise.toml", '[env]\nA = "parent"\nB = "b"\n')
    const child = source("/p/sub/mise.toml", '[env]\nC = "{{ env.A }}-{{ config_root }}"\nA = "child"\n')
    expect(run([parent, child]).env.vars).toEqual([
      ["A", "child"],
      ["B", "b"],
      ["C", "parent-/p/sub"]
    ])
  })

  it("unsets with false, and a later set moves the key to the end", () => {
    const parent = source("/p/mise.toml", '[env]\nA = "1"\nB = "2"\n')
    const child = source("/p/sub/mise.toml", '[env]\nA = false\nZED = false\n')
    expect(run([parent, child]).env).toEqual({ vars: [["B", "2"]], bakedCount: 1, unset: ["A", "ZED"] })
    const again = source("/p/sub/sub/mise.toml", '[env]\nA = { value = "3" }\n')
    expect(run([parent, child, again]).env.vars).toEqual([["B", "2"], ["A", "3"]])
  })

  it("applies default only when the var is unset or empty, host env included", () => {
    const result = run([source("/p/mise.toml", '[env]\nHOME = { default = "/nope" }\nNEW = { default = "d" }\n')])
    expect(result.env.vars).toEqual([["NEW", "d"]])
  })

  it("loads _.file (dotenv, json, toml) relative to the config root; a missing file adds nothing", () => {
    const result = run([
      source("/p/mise.toml", '[env]\n_.file = [".env", "extra.json", "./extra.toml", "missing.env"]\nAFTER = "{{ env.A }}"\n')
    ])
    expect(result.env.vars).toEqual([
      ["A", "from-dotenv"],
      ["B", "quoted value"],
      ["J", "json"],
      ["N", "1"],
      ["T", "toml"],
      ["AFTER", "from-dotenv"]
    ])
  })

  it("supports [[env]] arrays, {{ vars.x }}, and skips _.path, tools=true and (with a warning) _.source", () => {
    const text = '[[env]]\nA = "{{ vars.region }}"\n_.path = ["bin"]\n\n[[env]]\n_.source = "x.sh"\nT = { value = "t", tools = true }\n'
    const result = run([source("/p/mise.toml", text)], { vars: { region: "eu" } })
    expect(result.env.vars).toEqual([["A", "eu"]])
    expect(result.warnings).toHaveLength(1)
    expect(result.warnings[0]).toContain('_.source "x.sh"')
  })

  it("names the file, line and key of a bad template", () => {
    const error = failure([source("/p/mise.toml", '[env]\nOK = "1"\nBAD = "{{ env.NOPE }}"\n')])
    expect(error.message).toBe('/p/mise.toml:3:1: env.BAD: invalid template "{{ env.NOPE }}": variable `env.NOPE` is not defined')
  })

  describe("required", () => {
    const required = source("/p/mise.toml", '[env]\nAWS_ACCESS_KEY_ID = { required = "AWS access key ID for S3" }\n')

    it("fails when neither the host, a later file nor [oci.env] defines it", () => {
      const error = failure([required])
      expect(error.message).toContain("/p/mise.toml:2:1: env.AWS_ACCESS_KEY_ID: Required environment variable 'AWS_ACCESS_KEY_ID' is not defined")
      expect(error.message).toContain("\nHelp: AWS access key ID for S3")
    })

    it("is satisfied by the host env (without baking it), a later file, or [oci.env]", () => {
      expect(run([required], { hostEnv: { AWS_ACCESS_KEY_ID: "x" } }).env.vars).toEqual([])
      expect(run([required, source("/p/sub/mise.toml", '[env]\nAWS_ACCESS_KEY_ID = "later"\n')]).env.vars).toEqual([
        ["AWS_ACCESS_KEY_ID", "later"]
      ])
      expect(run([required], { ociEnv: { AWS_ACCESS_KEY_ID: "placeholder" } }).env.vars).toEqual([])
    })
  })
})

describe("envDirectivesFromToml", () => {
  const reason = (text: string): string => {
    const result = envDirectivesFromToml(parse(text)["env"], "env")
    return Either.isLeft(result) ? result.left.reason : ""
  }

  it("rejects contradictory or empty tables with mise's messages", () => {
    expect(reason('[env]\nA = { value = "1", default = "2" }')).toContain("cannot have both 'value' and 'default'")
    expect(reason('[env]\nA = { default = "2", required = true }')).toContain("cannot have both 'default' and 'required'")
    expect(reason('[env]\nA = { value = "1", required = true }')).toContain("cannot have both 'value' and 'required'")
    expect(reason("[env]\nA = { redact = true }")).toContain("Environment variable 'A' has no value")
    expect(reason("[env]\nA = { default = true }")).toContain("default cannot be a boolean")
    expect(reason("[env]\nA = 1.5")).toContain("failed to parse environment variable 'A'")
  })
})

describe("parseEnvFile", () => {
  it("rejects nested json values and yaml files", () => {
    expect(Either.isLeft(parseEnvFile("/p/x.json", '{"A": {"b": 1}}'))).toBe(true)
    expect(Either.isLeft(parseEnvFile("/p/x.yaml", "A: 1"))).toBe(true)
  })
})

describe("resolveVars", () => {
  it("resolves [vars] in order, with templates over host env and earlier vars, and defaults preferring the host", () => {
    const vars = Effect.runSync(
      resolveVars(
        [
          source("/p/mise.toml", '[vars]\nbase = "{{ env.HOME }}/data"\nfull = "{{ vars.base }}/x"\nregion = { default = "eu" }\n', "vars"),
          source("/p/sub/mise.toml", '[vars]\nbase = "override"\n', "vars")
        ],
        { hostEnv: { HOME: "/home/u", region: "us" }, cwd: "/p", home: "/home/u", readFile: () => Effect.succeed(undefined) }
      )
    )
    expect(vars).toEqual({ base: "override", full: "/home/u/data/x", region: "us" })
  })
})
