// Tests of the Updater module live in this folder.
