import OtterCLI

await Otter.runFromCommandLine()
