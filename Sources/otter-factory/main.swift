import FactoryCLI

await Factory.main()
