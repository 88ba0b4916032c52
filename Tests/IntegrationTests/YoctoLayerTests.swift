import Foundation
import Testing
import TestSupport

/// meta-otter without BitBake (Debian 12 has no bitbake package): the facts a real scarthgap parse
/// enforces (REFERENCE §13), checked statically, and oelint-adv --release scarthgap on every
/// recipe, append, include and class.
@Suite struct YoctoLayerTests {
    static let layer = repoPath("yocto/meta-otter")

    static func files(withSuffixes suffixes: [String]) throws -> [String] {
        let all = FileManager.default.enumerator(atPath: layer)?.compactMap { $0 as? String } ?? []
        return all.filter { path in suffixes.contains { path.hasSuffix($0) } }.sorted()
    }

    /// `NAME = "value"` assignments of a BitBake file (no continuation lines needed here).
    static func assignments(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].trimmingCharacters(in: .whitespaces).replacingOccurrences(of: " ??", with: "")
                .trimmingCharacters(in: CharacterSet(charactersIn: " ?+:."))
            var value = parts[1].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            result[name] = value
        }
        return result
    }

    @Test func layerConfDeclaresTheCollectionScarthgapAndItsDependencies() throws {
        let conf = Self.assignments(try read(Self.layer + "/conf/layer.conf"))
        #expect(conf["BBFILE_COLLECTIONS"] == "otter")
        #expect(conf["LAYERSERIES_COMPAT_otter"]?.split(separator: " ").contains("scarthgap") == true)
        let depends = Set((conf["LAYERDEPENDS_otter"] ?? "").split(separator: " ").map(String.init))
        #expect(depends.isSuperset(of: ["core", "swift-layer", "openembedded-layer"]))
        #expect(conf["BBFILE_PATTERN_otter"] == "^${LAYERDIR}/")
        let text = try read(Self.layer + "/conf/layer.conf")
        #expect(text.contains("meta-lmp-base:${LAYERDIR}/dynamic-layers/meta-lmp-base/recipes-*/*/*.bbappend"))
    }

    @Test func everySrcrevIsFortyHexAndLicenseIsSet() throws {
        let hex = try Regex("^[0-9a-f]{40}$")
        for file in try Self.files(withSuffixes: [".bb", ".inc"]) {
            for (name, value) in Self.assignments(try read(Self.layer + "/" + file)) where name.hasPrefix("SRCREV") && name != "SRCREV_FORMAT" {
                #expect(value.wholeMatch(of: hex) != nil, "\(file): \(name) = \(value) is not a fixed 40-hex revision")
            }
        }
        let source = Self.assignments(try read(Self.layer + "/recipes-support/otter/otter-source.inc"))
        #expect(source["LICENSE"] == "Apache-2.0")
        // The checksum BitBake checks at build time must be that of the repository's LICENSE file.
        let md5 = try runProcess("/usr/bin/md5sum", [repoPath("LICENSE")])
        let expected = String(md5.out.prefix(32))
        #expect(source["LIC_FILES_CHKSUM"] == "file://LICENSE;md5=\(expected)", "LICENSE changed: update LIC_FILES_CHKSUM in otter-source.inc")
        #expect(source["SRCREV_otter"]?.count == 40)
    }

    /// A .bbappend without a recipe is a parse error; LmP-only appends must sit under
    /// dynamic-layers/meta-lmp-base and target a recipe this layer or meta-lmp-base provides.
    @Test func everyAppendMatchesARecipeAndLmpAppendsAreDynamic() throws {
        let recipes = try Self.files(withSuffixes: [".bb"]).map { ($0 as NSString).lastPathComponent.replacingOccurrences(of: ".bb", with: "") }
        let appends = try Self.files(withSuffixes: [".bbappend"])
        #expect(!appends.isEmpty)
        for append in appends {
            #expect(append.hasPrefix("dynamic-layers/meta-lmp-base/"), "\(append) is outside dynamic-layers")
            let name = ((append as NSString).lastPathComponent).replacingOccurrences(of: ".bbappend", with: "")
            let pattern = try Regex("^" + name.replacingOccurrences(of: ".", with: "\\.").replacingOccurrences(of: "%", with: ".*") + "$")
            #expect(recipes.contains { $0.wholeMatch(of: pattern) != nil }, "\(append) matches no recipe in \(recipes)")
        }
    }

    /// The SwiftPM dependencies the recipe fetches are the ones Package.resolved pins.
    @Test func recipeSrcrevsMatchPackageResolved() throws {
        let resolvedPath = repoPath("Package.resolved")
        try #require(FileManager.default.fileExists(atPath: resolvedPath), "swift build writes Package.resolved")
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: resolvedPath))) as? [String: Any]
        let pins = try #require(json?["pins"] as? [[String: Any]])
        let recipe = Self.assignments(try read(Self.layer + "/recipes-support/otter/otter_git.bb"))
        for pin in pins {
            let identity = try #require(pin["identity"] as? String)
            let revision = try #require((pin["state"] as? [String: Any])?["revision"] as? String)
            #expect(recipe["SRCREV_" + identity] == revision, "SRCREV_\(identity) should be \(revision) (Package.resolved)")
        }
    }

    @Test func oelintAdvReportsNothing() throws {
        let files = try Self.files(withSuffixes: [".bb", ".bbappend", ".bbclass", ".inc"]).map { Self.layer + "/" + $0 }
        let result = try tool("oelint-adv", ["--quiet", "--release", "scarthgap"] + files, check: false)
        let findings = (result.out + result.err).split(separator: "\n").filter { $0.contains(":error:") || $0.contains(":warning:") || $0.contains(":info:") }
        #expect(result.status == 0 && findings.isEmpty, "oelint-adv: \(findings.joined(separator: "\n"))")
    }

    /// The units and fragments the recipe installs (through scripts/install) exist in the repo.
    @Test func recipeInstallsFilesThatExist() throws {
        let recipe = try read(Self.layer + "/recipes-support/otter/otter_git.bb")
        #expect(recipe.contains("${S}/scripts/install"))
        for unit in ["otter.service", "otter-health.service", "otter-rollback.service", "otter-rollback.target"] {
            #expect(FileManager.default.fileExists(atPath: repoPath("systemd/" + unit)))
            #expect(try read(repoPath("scripts/install")).contains(unit))
        }
        #expect(recipe.contains("SYSTEMD_SERVICE:${PN} = \"otter.service otter-health.service\""))
        #expect(FileManager.default.fileExists(atPath: Self.layer + "/dynamic-layers/meta-lmp-base/recipes-sota/otter/files/20-lmp.toml"))
    }
}
