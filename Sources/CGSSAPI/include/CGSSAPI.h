#ifndef CGSSAPI_H
#define CGSSAPI_H

#include <stddef.h>
#include <stdint.h>

// The GSS-API acceptor calls socksd's RFC 1961 login makes (acquire a credential from a keytab, accept a
// context, name its initiator, wrap and unwrap, delete), in C, for Sources/SOCKSServer/Login/LibGSSAPI.swift.
//
// socksd loads libgssapi_krb5.so.2 at run time (dlopen, in Swift), so that building it needs no Kerberos
// headers and a daemon without --gssapi-keytab never loads Kerberos. What stays in C is what Swift cannot
// spell well: GSS-API's structs passed by value and by address, and buffers the library allocates and frees.
// Their layout is GSS-API's C binding (RFC 2744) as MIT Kerberos declares it (gssapi/gssapi.h, 64-bit
// Linux: OM_uint32 is uint32_t, handles are pointers), copied here so that no -dev package is needed.

/// The libgssapi_krb5 functions the acceptor calls, as `dlsym` found them (NULL when absent), which
/// CGSSAPI.c casts to their RFC 2744 prototypes.
typedef struct {
    void *gss_import_name;
    void *gss_release_name;
    void *gss_acquire_cred_from;
    void *gss_release_cred;
    void *gss_accept_sec_context;
    void *gss_display_name;
    void *gss_release_buffer;
    void *gss_delete_sec_context;
    void *gss_wrap;
    void *gss_unwrap;
    void *gss_display_status;
} cgss_functions;

/// A GSS-API status: the major (GSS_S_*) and minor (mechanism's) codes.
typedef struct {
    uint32_t major;
    uint32_t minor;
} cgss_status;

/// Whether `status` is an error (GSS_ERROR: a calling or routine error).
int cgss_failed(cgss_status status);

/// Whether `status` asks for another context-establishment token (GSS_S_CONTINUE_NEEDED).
int cgss_continue_needed(cgss_status status);

/// Acquires an acceptor credential for the host-based service `service` ("NAME" for any host of the
/// service in the keytab, "NAME@HOST" for one) from the keytab at `keytab` (gss_acquire_cred_from, MIT
/// 1.11 and later). On success `*credential` is the handle, released with cgss_release_credential.
cgss_status cgss_acquire_credential(const cgss_functions *functions, const char *service, const char *keytab, void **credential);

/// Releases a credential cgss_acquire_credential made.
void cgss_release_credential(const cgss_functions *functions, void **credential);

/// One round of gss_accept_sec_context: `token` (of `length` bytes) from the initiator, into `*context`
/// (NULL at first). The token to send back, if any, is copied into malloc'd memory at `*output` (of
/// `*output_length` bytes; the caller frees it); once the context is complete, the initiator's name
/// (gss_display_name, zero-terminated) is malloc'd at `*initiator`. Both are NULL when there are none.
cgss_status cgss_accept(const cgss_functions *functions, void *credential, void **context, const uint8_t *token, size_t length,
                        uint8_t **output, size_t *output_length, char **initiator);

/// gss_wrap of `length` bytes with confidentiality when `confidential`; the token is malloc'd at `*output`.
cgss_status cgss_wrap(const cgss_functions *functions, void *context, int confidential, const uint8_t *bytes, size_t length,
                      uint8_t **output, size_t *output_length);

/// gss_unwrap of a token; the plaintext is malloc'd at `*output`, and `*confidential` says whether it was
/// encrypted.
cgss_status cgss_unwrap(const cgss_functions *functions, void *context, const uint8_t *token, size_t length, uint8_t **output,
                        size_t *output_length, int *confidential);

/// Deletes a context (no token is made: RFC 1961 sends none), and sets `*context` to NULL.
void cgss_delete_context(const cgss_functions *functions, void **context);

/// The texts of `status` (major, then minor), joined with "; ", zero-terminated in `text` of `capacity` bytes.
void cgss_status_text(const cgss_functions *functions, cgss_status status, char *text, size_t capacity);

#endif
