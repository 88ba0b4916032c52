#ifndef OTTER_COSTREE_SHIM_H
#define OTTER_COSTREE_SHIM_H
#include <ostree.h>
#include <gio/gio.h>

// GLib macros and variadic functions that Swift cannot import, as tiny inline functions.

static inline void costree_object_unref(void *object) { if (object) g_object_unref(object); }
static inline void *costree_object_ref(void *object) { return g_object_ref(object); }
static inline GQuark costree_io_error_quark(void) { return g_io_error_quark(); }

// g_variant_new / g_variant_get are variadic: build the pull-option values one type at a time.
static inline GVariant *costree_variant_new_string_array(const char *const *strv, gssize length) {
    return g_variant_new_strv(strv, length);
}
static inline GVariant *costree_variant_new_headers(const char *const *names, const char *const *values, gsize count) {
    GVariantBuilder builder;
    g_variant_builder_init(&builder, G_VARIANT_TYPE("a(ss)"));
    for (gsize i = 0; i < count; i++)
        g_variant_builder_add(&builder, "(ss)", names[i], values[i]);
    return g_variant_builder_end(&builder);
}
static inline GVariantType *costree_variant_type_vardict(void) { return (GVariantType *)G_VARIANT_TYPE_VARDICT; }
static inline GVariantType *costree_variant_type_bytestring_array(void) { return (GVariantType *)G_VARIANT_TYPE("aay"); }
// Type strings must outlive the call (GLib keeps the pointer): only C literals here.
static inline const GVariantType *costree_variant_type_byte(void) { return G_VARIANT_TYPE_BYTE; }
static inline const GVariantType *costree_variant_type_string(void) { return G_VARIANT_TYPE_STRING; }
static inline const GVariantType *costree_variant_type_uint64(void) { return G_VARIANT_TYPE_UINT64; }
static inline const GVariantType *costree_variant_type_strv(void) { return G_VARIANT_TYPE_STRING_ARRAY; }

// Reads fields of a commit variant (OSTREE_COMMIT_GVARIANT_FORMAT "(a{sv}aya(say)sstayay)").
static inline GVariant *costree_commit_metadata(GVariant *commit) { return g_variant_get_child_value(commit, 0); }
static inline GVariant *costree_commit_parent(GVariant *commit) { return g_variant_get_child_value(commit, 1); }
static inline const char *costree_commit_subject(GVariant *commit) {
    GVariant *v = g_variant_get_child_value(commit, 3);
    const char *s = g_variant_get_string(v, NULL);
    g_variant_unref(v); // the string is owned by the parent commit variant
    return s;
}
static inline const char *costree_commit_body(GVariant *commit) {
    GVariant *v = g_variant_get_child_value(commit, 4);
    const char *s = g_variant_get_string(v, NULL);
    g_variant_unref(v);
    return s;
}

// The ostree "progress changed" signal is connected through a C callback.
typedef void (*costree_progress_callback)(OstreeAsyncProgress *progress, void *user_data);
static inline gulong costree_connect_progress_changed(OstreeAsyncProgress *progress,
                                                      costree_progress_callback callback, void *user_data) {
    return g_signal_connect(progress, "changed", G_CALLBACK(callback), user_data);
}
#endif
