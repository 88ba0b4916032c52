/// One copy of a U-Boot environment as U-Boot's `env_t` lays it out: a CRC-32 of the data area
/// (little-endian), for a redundant environment a flags byte (a counter: the higher valid copy is
/// the current one), then `name=value` strings each ended by NUL, an empty string, and padding.
struct UBootEnvironmentImage: Equatable {
    var variables: [String: String]
    /// The redundancy counter; nil for a single environment.
    var flags: UInt8?

    static func headerSize(redundant: Bool) -> Int { redundant ? 5 : 4 }

    /// Decodes one copy; the error text says why the copy is unusable.
    static func decode(_ bytes: [UInt8], redundant: Bool) -> Result<UBootEnvironmentImage, CorruptCopy> {
        let header = headerSize(redundant: redundant)
        guard bytes.count > header else { return .failure(CorruptCopy(detail: "shorter than its header")) }
        let stored = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let data = bytes[header...]
        let computed = CRC32.checksum(data)
        guard stored == computed else {
            return .failure(CorruptCopy(detail: "CRC mismatch: stored 0x\(hex(stored)), computed 0x\(hex(computed))"))
        }
        var variables: [String: String] = [:]
        var start = data.startIndex
        while start < data.endIndex, data[start] != 0 {
            let end = data[start...].firstIndex(of: 0) ?? data.endIndex
            let entry = data[start..<end]
            if let equals = entry.firstIndex(of: UInt8(ascii: "=")) {
                let name = String(decoding: entry[..<equals], as: UTF8.self)
                variables[name] = String(decoding: entry[(equals + 1)...], as: UTF8.self)
            }
            start = end + 1
        }
        return .success(UBootEnvironmentImage(variables: variables, flags: redundant ? bytes[4] : nil))
    }

    /// The copy's bytes, `size` long, entries sorted by name as U-Boot's `env export` writes them.
    func encode(size: Int, path: String) throws -> [UInt8] {
        let header = Self.headerSize(redundant: flags != nil)
        var data: [UInt8] = []
        for name in variables.keys.sorted() {
            let value = variables[name]!
            if value.utf8.contains(0) {
                throw BootloaderError.invalidValue(name: name, value: value, expected: "a value without NUL bytes")
            }
            data.append(contentsOf: name.utf8)
            data.append(UInt8(ascii: "="))
            data.append(contentsOf: value.utf8)
            data.append(0)
        }
        data.append(0)
        let capacity = size - header
        guard data.count <= capacity else {
            throw BootloaderError.environmentFull(path: path, needed: data.count, capacity: capacity)
        }
        data.append(contentsOf: repeatElement(0, count: capacity - data.count))
        let crc = CRC32.checksum(data)
        var bytes: [UInt8] = [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)]
        if let flags { bytes.append(flags) }
        bytes.append(contentsOf: data)
        return bytes
    }

    struct CorruptCopy: Error, Equatable {
        var detail: String
    }
}

private func hex(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}
