import { runCli } from "./Cli"

runCli(process.argv)
