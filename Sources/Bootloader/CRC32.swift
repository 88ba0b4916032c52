/// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, zlib's `crc32`): the checksum U-Boot
/// stores in front of its environment (`env_t.crc`, computed over the data area only, not the
/// flags byte), and the one MCU bootloaders check firmware images with (the Firmware module).
public enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        update(0, with: bytes)
    }

    /// The checksum of the bytes before (`crc`, 0 for none) followed by `bytes`: streams a file.
    public static func update<C: Collection>(_ crc: UInt32, with bytes: C) -> UInt32 where C.Element == UInt8 {
        var crc = crc ^ 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}
