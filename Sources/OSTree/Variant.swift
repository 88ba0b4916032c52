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
    /// Held, not borrowed: strings read out of the dictionary point into its data.
    let box: GVariantBox

    init(_ box: GVariantBox) { self.box = box }

    func value(_ key: String) -> GVariantBox? {
        box.withPointer { variant in g_variant_lookup_value(variant, key, nil).map { GVariantBox(owning: $0) } }
    }

    func string(_ key: String) -> String? {
        value(key)?.withPointer { v in
            g_variant_is_of_type(v, costree_variant_type_string()).isTrue ? String(cString: g_variant_get_string(v, nil)) : nil
        }
    }

    func uint64(_ key: String) -> UInt64? {
        value(key)?.withPointer { v in
            g_variant_is_of_type(v, costree_variant_type_uint64()).isTrue ? UInt64(g_variant_get_uint64(v)) : nil
        }
    }

    /// Every entry in order: its key and the value inside the `v` box.
    func entries() -> [(key: String, value: GVariantBox)] {
        box.withPointer { variant in
            (0..<g_variant_n_children(variant)).map { i in
                GVariantBox(owning: g_variant_get_child_value(variant, i)).withPointer { entry in
                    let key = GVariantBox(owning: g_variant_get_child_value(entry, 0))
                        .withPointer { String(cString: g_variant_get_string($0, nil)) }
                    let value = GVariantBox(owning: g_variant_get_child_value(entry, 1))
                        .withPointer { GVariantBox(owning: g_variant_get_variant($0)) }
                    return (key, value)
                }
            }
        }
    }

    /// Every string-typed entry, for showing commit metadata.
    func strings() -> [String: String] {
        var out: [String: String] = [:]
        for (key, value) in entries() {
            out[key] = value.withPointer { v in
                g_variant_is_of_type(v, costree_variant_type_string()).isTrue ? String(cString: g_variant_get_string(v, nil)) : nil
            }
        }
        return out
    }

    /// The 'aay' entry `key` as byte arrays (ostree.sign.ed25519 signatures).
    func byteStrings(_ key: String) -> [[UInt8]] {
        guard let array = value(key) else { return [] }
        return array.withPointer { v in
            guard g_variant_is_of_type(v, costree_variant_type_bytestring_array()).isTrue else { return [] }
            return (0..<g_variant_n_children(v)).map { i in variantBytes(GVariantBox(owning: g_variant_get_child_value(v, i))) }
        }
    }
}

/// The serialized bytes of a variant (for 'ay' values and for signing whole commits).
func variantBytes(_ variant: GVariantBox) -> [UInt8] {
    // The box owns the serialized bytes: they are copied while it is alive.
    variant.withPointer { pointer in
        let size = g_variant_get_size(pointer)
        guard size > 0, let data = g_variant_get_data(pointer) else { return [] }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(size)))
    }
}
