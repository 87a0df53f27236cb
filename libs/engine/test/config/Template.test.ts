import { Either } from "effect"
import { describe, expect, it } from "vitest"
import { renderTemplate } from "../../src/config/Template"

const ctx = { env: { HOME: "/home/u", EMPTY: "" }, vars: { region: "eu" }, config_root: "/p", cwd: "/p/sub" }
const render = (input: string) => renderTemplate(input, ctx)

describe("renderTemplate", () => {
  it("leaves strings without template syntax alone", () => {
    expect(render("a {b} c")).toEqual(Either.right("a {b} c"))
  })

  it("reads env, vars, config_root and cwd, with or without spaces", () => {
    expect(render("{{env.HOME}}/x:{{ config_root }}:{{cwd}}:{{ vars.region }}")).toEqual(Either.right("/home/u/x:/p:/p/sub:eu"))
    expect(render('{{ env["HOME"] }}')).toEqual(Either.right("/home/u"))
  })

  it("applies default only to undefined variables, like Tera", () => {
    expect(render('{{ env.NOPE | default(value="y") }}')).toEqual(Either.right("y"))
    expect(render('{{ env.EMPTY | default(value="y") }}')).toEqual(Either.right(""))
    expect(render('{{ env.HOME | upper | replace(from="/", to="-") }}')).toEqual(Either.right("-HOME-U"))
  })

  it("supports get_env, concatenation, comments and whitespace control", () => {
    expect(render('{{ get_env(name="NOPE", default="d") }}')).toEqual(Either.right("d"))
    expect(render('{{ vars.region ~ "-1" }}')).toEqual(Either.right("eu-1"))
    expect(render("a {# note #}b")).toEqual(Either.right("a b"))
    expect(render("a   {{- vars.region -}}   b")).toEqual(Either.right("aeub"))
  })

  it("fails on undefined variables and unsupported syntax, saying which", () => {
    expect(render("{{ env.NOPE }}")).toEqual(Either.left("variable `env.NOPE` is not defined"))
    expect(render("{{ nope }}")).toEqual(Either.left("variable `nope` is not defined"))
    expect(render('{{ exec(command="id") }}')).toEqual(Either.left("unsupported function `exec()`"))
    expect(render("{{ env.HOME | nope }}")).toEqual(Either.left("unsupported filter `nope`"))
    expect(Either.isLeft(render("{% if x %}y{% endif %}"))).toBe(true)
    expect(Either.isLeft(render("{{ env.HOME"))).toBe(true)
  })
})
