import COSTree

/// Owns one GObject reference and drops it on deinit. GObject pointers arrive in Swift as
/// `OpaquePointer`, while `g_object_unref` takes a raw pointer.
final class GObjectBox: @unchecked Sendable {
    let pointer: OpaquePointer

    /// Takes over a reference the caller already owns (a `_new`/`(transfer full)` result).
    init(owning pointer: OpaquePointer) { self.pointer = pointer }

    /// Adds a reference to a borrowed pointer (a `(transfer none)` result).
    init(retaining pointer: OpaquePointer) {
        costree_object_ref(UnsafeMutableRawPointer(pointer))
        self.pointer = pointer
    }

    deinit { costree_object_unref(UnsafeMutableRawPointer(pointer)) }

    /// Calls `body` with the pointer while the box (and so the reference) is alive: Swift may
    /// release a box right after its last use, so a bare `.pointer` handed to C can dangle.
    func withPointer<R, E: Error>(_ body: (OpaquePointer) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(pointer)
    }
}

/// Owns one GVariant reference (sinking a floating one).
final class GVariantBox: @unchecked Sendable {
    let pointer: OpaquePointer

    init(owning pointer: OpaquePointer) { self.pointer = pointer }

    init(sinking pointer: OpaquePointer) { self.pointer = g_variant_ref_sink(pointer) }

    deinit { g_variant_unref(pointer) }

    /// Calls `body` with the pointer while the box is alive (see `GObjectBox.withPointer`);
    /// anything read from the variant (strings, data) must be copied inside `body`.
    func withPointer<R, E: Error>(_ body: (OpaquePointer) throws(E) -> R) throws(E) -> R {
        defer { withExtendedLifetime(self) {} }
        return try body(pointer)
    }
}

/// A GFile for a path, released after `body`.
func withGFile<T, E: Error>(_ path: String, _ body: (OpaquePointer) throws(E) -> T) throws(E) -> T {
    let file = g_file_new_for_path(path)!
    defer { costree_object_unref(UnsafeMutableRawPointer(file)) }
    return try body(file)
}

/// Copies a `char *` GLib allocated and frees it.
func takeString(_ pointer: UnsafeMutablePointer<CChar>?) -> String? {
    guard let pointer else { return nil }
    defer { g_free(pointer) }
    return String(cString: pointer)
}

/// Copies a NULL-terminated `char **` GLib allocated and frees it.
func takeStringArray(_ strv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String] {
    guard let strv else { return [] }
    defer { g_strfreev(strv) }
    var out: [String] = []
    var index = 0
    while let item = strv[index] {
        out.append(String(cString: item))
        index += 1
    }
    return out
}

/// Runs `body` with a NULL-terminated C string array that lives for the call.
func withCStringArray<T>(_ strings: [String], _ body: (UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) throws -> T) rethrows -> T {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for p in pointers { free(p) } }
    return try pointers.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
}
