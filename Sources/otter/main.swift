import OtterCLI

await Otter.main()
