/// `fw_env.config`, the file `fw_printenv`/`fw_setenv` (u-boot-tools and libubootenv) read:
/// one line per copy of the environment, `device offset env-size [sector-size [sectors]]`,
/// `#` comments. As both tools scan it (`sscanf("%lli %lx %lx")`), the offset is in C notation
/// (`0x` hex, leading-zero octal, decimal) but the sizes are *always hex*, `0x` or not:
/// `8192` means 0x8192. A second line makes the environment redundant.
public struct FWEnvConfig: Sendable, Equatable {
    public struct Copy: Sendable, Equatable {
        public var device: String
        public var offset: Int
        public var size: Int
        public var sectorSize: Int?

        public init(device: String, offset: Int, size: Int, sectorSize: Int? = nil) {
            self.device = device
            self.offset = offset
            self.size = size
            self.sectorSize = sectorSize
        }
    }

    public var copies: [Copy]

    public var isRedundant: Bool { copies.count == 2 }

    public init(copies: [Copy]) {
        self.copies = copies
    }

    public init(contentsOf path: String) throws {
        let text = String(decoding: try EnvironmentFile.readAll(path), as: UTF8.self)
        try self.init(parsing: text, path: path)
    }

    public init(parsing text: String, path: String = "fw_env.config") throws {
        var copies: [Copy] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            func fail(_ detail: String) -> BootloaderError {
                .invalidConfiguration(path: path, line: index + 1, detail: detail)
            }
            guard fields.count >= 3 else { throw fail("expected `device offset env-size [sector-size]`") }
            guard let offset = Self.number(fields[1]) else { throw fail("offset \"\(fields[1])\" is not a number") }
            guard let size = Self.hex(fields[2]), size > UBootEnvironmentImage.headerSize(redundant: true) + 1 else {
                throw fail("environment size \"\(fields[2])\" is not a usable size")
            }
            var sectorSize: Int?
            if fields.count > 3 {
                guard let s = Self.hex(fields[3]) else { throw fail("sector size \"\(fields[3])\" is not a number") }
                sectorSize = s
            }
            guard copies.count < 2 else { throw fail("more than two environment copies") }
            if let first = copies.first, first.size != size {
                throw fail("both copies of a redundant environment must have the same size")
            }
            copies.append(Copy(device: String(fields[0]), offset: offset, size: size, sectorSize: sectorSize))
        }
        guard !copies.isEmpty else {
            throw BootloaderError.invalidConfiguration(path: path, line: 0, detail: "no environment device configured")
        }
        self.copies = copies
    }

    /// The file's own text, for writing a config next to an image.
    public var text: String {
        copies.map { copy in
            var line = "\(copy.device) 0x\(String(copy.offset, radix: 16)) 0x\(String(copy.size, radix: 16))"
            if let s = copy.sectorSize { line += " 0x\(String(s, radix: 16))" }
            return line
        }.joined(separator: "\n") + "\n"
    }

    /// `%lx`: hex with an optional 0x prefix.
    static func hex<S: StringProtocol>(_ text: S) -> Int? {
        Int(text.hasPrefix("0x") || text.hasPrefix("0X") ? text.dropFirst(2) : text[...], radix: 16)
    }

    /// strtoll(…, 0) without its silent acceptance of trailing garbage.
    static func number<S: StringProtocol>(_ text: S) -> Int? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return Int(text.dropFirst(2), radix: 16) }
        if text.count > 1 && text.hasPrefix("0") { return Int(text.dropFirst(), radix: 8) }
        return Int(text)
    }
}
