/// MCU firmware: OCI artifacts per device repository, newest semver tag, cosign signatures,
/// and the plain-HTTP endpoints microcontrollers poll (`/health`, `/version`, `/firmware`).
public enum Firmware {}
