#ifndef OTTER_COPENSSL_SHIM_H
#define OTTER_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/ec.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>

// Function-like macros Swift cannot import.
static inline long copenssl_bio_get_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }
static inline int copenssl_pkey_ctx_set_rsa_padding(EVP_PKEY_CTX *ctx, int padding) {
    return EVP_PKEY_CTX_set_rsa_padding(ctx, padding);
}
static inline int copenssl_pkey_ctx_set_rsa_pss_saltlen(EVP_PKEY_CTX *ctx, int len) {
    return EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, len);
}
static const int copenssl_mbstring_utf8 = MBSTRING_UTF8;

// subjectAltName entries as "DNS:name" / "IP:address" lines (the GENERAL_NAME stack API is
// all macros).
static inline int copenssl_write_subject_alt_names(X509 *cert, BIO *out) {
    GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (!names) return 0;
    int count = sk_GENERAL_NAME_num(names);
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
        if (name->type == GEN_DNS) {
            BIO_printf(out, "DNS:%.*s\n", name->d.dNSName->length, (const char *)name->d.dNSName->data);
        } else if (name->type == GEN_IPADD) {
            const unsigned char *ip = name->d.iPAddress->data;
            if (name->d.iPAddress->length == 4) BIO_printf(out, "IP:%d.%d.%d.%d\n", ip[0], ip[1], ip[2], ip[3]);
        } else if (name->type == GEN_URI) {
            BIO_printf(out, "URI:%.*s\n", name->d.uniformResourceIdentifier->length,
                       (const char *)name->d.uniformResourceIdentifier->data);
        }
    }
    GENERAL_NAMES_free(names);
    return count;
}
#endif
