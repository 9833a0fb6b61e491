"""Scripts the backup Jobs run, shipped in ConfigMaps; importable so their logic is unit-tested."""
