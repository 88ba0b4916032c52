import COSTree

/// A value for an `a{sv}` options dictionary (pull options, remote options, commit metadata).
enum VariantValue {
    case string(String)
    case strings([String])
    case bool(Bool)
    case int32(Int32)
    case uint32(UInt32)
    case uint64(UInt64)
    case headers([(String, String)])
    case byteStrings([[UInt8]])

    /// A new floating GVariant.
    func make() -> OpaquePointer {
        switch self {
        case .string(let s): return g_variant_new_string(s)
        case .strings(let list):
            return withCStringArray(list) { strv in
                strv.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: list.count + 1) {
                    costree_variant_new_string_array($0, Int(list.count))
                }
            }
        case .bool(let b): return g_variant_new_boolean(b.gboolean)
        case .int32(let i): return g_variant_new_int32(i)
        case .uint32(let u): return g_variant_new_uint32(u)
        case .uint64(let u): return g_variant_new_uint64(guint64(u))
        case .headers(let pairs):
            return withCStringArray(pairs.map(\.0)) { names in
                withCStringArray(pairs.map(\.1)) { values in
                    names.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: pairs.count + 1) { n in
                        values.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: pairs.count + 1) { v in
                            costree_variant_new_headers(n, v, gsize(pairs.count))
                        }
                    }
                }
            }
        case .byteStrings(let items):
            let builder = g_variant_builder_new(costree_variant_type_bytestring_array())!
            defer { g_variant_builder_unref(builder) }
            for bytes in items {
                let value = bytes.withUnsafeBytes { raw in
                    g_variant_new_fixed_array(costree_variant_type_byte(), raw.baseAddress, gsize(raw.count), 1)
                }
                g_variant_builder_add_value(builder, value)
            }
            return g_variant_builder_end(builder)
        }
    }
}

/// Builds an `a{sv}` GVariant (floating) from key/value pairs.
func makeVardict(_ entries: [(String, VariantValue)]) -> OpaquePointer {
    let builder = g_variant_builder_new(costree_variant_type_vardict())!
    defer { g_variant_builder_unref(builder) }
    for (key, value) in entries {
        let entry = g_variant_new_dict_entry(g_variant_new_string(key), g_variant_new_variant(value.make()))
        g_variant_builder_add_value(builder, entry)
    }
    return g_variant_builder_end(builder)
}

/// Reads simple values back out of an `a{sv}` dictionary.
struct Vardict {
    let variant: OpaquePointer

    func value(_ key: String) -> GVariantBox? {
        guard let v = g_variant_lookup_value(variant, key, nil) else { return nil }
        return GVariantBox(owning: v)
    }

    func string(_ key: String) -> String? {
        guard let v = value(key), g_variant_is_of_type(v.pointer, costree_variant_type_string()).isTrue else { return nil }
        return String(cString: g_variant_get_string(v.pointer, nil))
    }

    func uint64(_ key: String) -> UInt64? {
        guard let v = value(key), g_variant_is_of_type(v.pointer, costree_variant_type_uint64()).isTrue else { return nil }
        return UInt64(g_variant_get_uint64(v.pointer))
    }

    /// Every entry in order: its key and the value inside the `v` box.
    func entries() -> [(key: String, value: GVariantBox)] {
        (0..<g_variant_n_children(variant)).map { i in
            let entry = GVariantBox(owning: g_variant_get_child_value(variant, i))
            let key = GVariantBox(owning: g_variant_get_child_value(entry.pointer, 0))
            let boxed = GVariantBox(owning: g_variant_get_child_value(entry.pointer, 1))
            return (String(cString: g_variant_get_string(key.pointer, nil)), GVariantBox(owning: g_variant_get_variant(boxed.pointer)))
        }
    }

    /// Every string-typed entry, for showing commit metadata.
    func strings() -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in entries() where g_variant_is_of_type(value.pointer, costree_variant_type_string()).isTrue {
            out[key] = String(cString: g_variant_get_string(value.pointer, nil))
        }
        return out
    }

    /// The 'aay' entry `key` as byte arrays (ostree.sign.ed25519 signatures).
    func byteStrings(_ key: String) -> [[UInt8]] {
        guard let v = value(key), g_variant_is_of_type(v.pointer, costree_variant_type_bytestring_array()).isTrue else { return [] }
        var out: [[UInt8]] = []
        for i in 0..<g_variant_n_children(v.pointer) {
            let child = GVariantBox(owning: g_variant_get_child_value(v.pointer, i))
            out.append(variantBytes(child))
        }
        return out
    }
}

/// The serialized bytes of a variant (for 'ay' values and for signing whole commits).
func variantBytes(_ variant: GVariantBox) -> [UInt8] {
    // The box owns the serialized bytes: it must stay alive until they are copied, which a
    // bare pointer argument would not guarantee (Swift may release the box after `.pointer`).
    withExtendedLifetime(variant) {
        let size = g_variant_get_size(variant.pointer)
        guard size > 0, let data = g_variant_get_data(variant.pointer) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(size)))
    }
}
