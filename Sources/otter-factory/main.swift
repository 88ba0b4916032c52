import FactoryCLI

await Factory.runFromCommandLine()
