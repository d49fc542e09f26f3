#include "CGSSAPI.h"

#include <stdlib.h>
#include <string.h>

// GSS-API's C binding (RFC 2744) as MIT Kerberos declares it: the types and values the acceptor uses.
typedef uint32_t OM_uint32;

typedef struct {
    size_t length;
    void *value;
} gss_buffer_desc;

typedef struct {
    OM_uint32 length;
    void *elements;
} gss_OID_desc;

typedef struct {
    const char *key;
    const char *value;
} gss_key_value_element_desc;

typedef struct {
    OM_uint32 count;
    gss_key_value_element_desc *elements;
} gss_key_value_set_desc;

typedef void *gss_name_t;
typedef void *gss_cred_id_t;
typedef void *gss_ctx_id_t;
typedef void *gss_OID_set;

enum {
    GSS_C_ACCEPT = 2,
    GSS_C_INDEFINITE = 0xffffffffu,
    GSS_C_GSS_CODE = 1,
    GSS_C_MECH_CODE = 2,
    GSS_S_COMPLETE = 0,
    GSS_S_CONTINUE_NEEDED = 1,
    GSS_C_QOP_DEFAULT = 0,
};

/// GSS_C_NT_HOSTBASED_SERVICE: { iso(1) member-body(2) United States(840) mit(113554) infosys(1) gssapi(2)
/// generic(1) service_name(4) } (RFC 2744, section 4).
static gss_OID_desc hostbased_service = {10, (void *)"\x2a\x86\x48\x86\xf7\x12\x01\x02\x01\x04"};

// The prototypes (RFC 2744; gss_acquire_cred_from: MIT's gssapi_ext.h).
typedef OM_uint32 (*import_name_fn)(OM_uint32 *, gss_buffer_desc *, gss_OID_desc *, gss_name_t *);
typedef OM_uint32 (*release_name_fn)(OM_uint32 *, gss_name_t *);
typedef OM_uint32 (*acquire_cred_from_fn)(OM_uint32 *, gss_name_t, OM_uint32, gss_OID_set, int, const gss_key_value_set_desc *,
                                          gss_cred_id_t *, gss_OID_set *, OM_uint32 *);
typedef OM_uint32 (*release_cred_fn)(OM_uint32 *, gss_cred_id_t *);
typedef OM_uint32 (*accept_fn)(OM_uint32 *, gss_ctx_id_t *, gss_cred_id_t, gss_buffer_desc *, void *, gss_name_t *, gss_OID_desc **,
                               gss_buffer_desc *, OM_uint32 *, OM_uint32 *, gss_cred_id_t *);
typedef OM_uint32 (*display_name_fn)(OM_uint32 *, gss_name_t, gss_buffer_desc *, gss_OID_desc **);
typedef OM_uint32 (*release_buffer_fn)(OM_uint32 *, gss_buffer_desc *);
typedef OM_uint32 (*delete_fn)(OM_uint32 *, gss_ctx_id_t *, gss_buffer_desc *);
typedef OM_uint32 (*wrap_fn)(OM_uint32 *, gss_ctx_id_t, int, OM_uint32, gss_buffer_desc *, int *, gss_buffer_desc *);
typedef OM_uint32 (*unwrap_fn)(OM_uint32 *, gss_ctx_id_t, gss_buffer_desc *, gss_buffer_desc *, int *, OM_uint32 *);
typedef OM_uint32 (*display_status_fn)(OM_uint32 *, OM_uint32, int, gss_OID_desc *, OM_uint32 *, gss_buffer_desc *);

int cgss_failed(cgss_status status) {
    // GSS_ERROR: the calling-error (bits 24-31) or routine-error (bits 16-23) fields are set.
    return (status.major & 0xffff0000u) != 0;
}

int cgss_continue_needed(cgss_status status) {
    return (status.major & GSS_S_CONTINUE_NEEDED) != 0;
}

/// Copies a library buffer into malloc'd memory of our own (NULL for an empty one) and releases it.
static void take_buffer(const cgss_functions *functions, gss_buffer_desc *buffer, uint8_t **output, size_t *output_length) {
    release_buffer_fn release = (release_buffer_fn)functions->gss_release_buffer;
    *output = NULL;
    *output_length = 0;
    if (buffer->length > 0 && buffer->value != NULL) {
        *output = malloc(buffer->length);
        if (*output != NULL) {
            memcpy(*output, buffer->value, buffer->length);
            *output_length = buffer->length;
        }
    }
    OM_uint32 minor;
    if (buffer->value != NULL) release(&minor, buffer);
}

cgss_status cgss_acquire_credential(const cgss_functions *functions, const char *service, const char *keytab, void **credential) {
    // POSIX lets dlsym's object pointers be converted to function pointers: these are the functions of
    // these names in libgssapi_krb5.so.2, whose prototypes are RFC 2744's.
    import_name_fn import_name = (import_name_fn)functions->gss_import_name;
    release_name_fn release_name = (release_name_fn)functions->gss_release_name;
    acquire_cred_from_fn acquire = (acquire_cred_from_fn)functions->gss_acquire_cred_from;
    cgss_status status = {0, 0};
    *credential = NULL;
    gss_buffer_desc text = {strlen(service), (void *)service};
    gss_name_t name = NULL;
    status.major = import_name(&status.minor, &text, &hostbased_service, &name);
    if (cgss_failed(status)) return status;
    gss_key_value_element_desc element = {"keytab", keytab};
    gss_key_value_set_desc store = {1, &element};
    status.major = acquire(&status.minor, name, GSS_C_INDEFINITE, NULL, GSS_C_ACCEPT, &store, credential, NULL, NULL);
    OM_uint32 minor;
    release_name(&minor, &name);
    return status;
}

void cgss_release_credential(const cgss_functions *functions, void **credential) {
    release_cred_fn release = (release_cred_fn)functions->gss_release_cred;
    OM_uint32 minor;
    if (*credential != NULL) release(&minor, credential);
    *credential = NULL;
}

cgss_status cgss_accept(const cgss_functions *functions, void *credential, void **context, const uint8_t *token, size_t length,
                        uint8_t **output, size_t *output_length, char **initiator) {
    accept_fn accept = (accept_fn)functions->gss_accept_sec_context;
    display_name_fn display_name = (display_name_fn)functions->gss_display_name;
    release_name_fn release_name = (release_name_fn)functions->gss_release_name;
    release_buffer_fn release_buffer = (release_buffer_fn)functions->gss_release_buffer;
    cgss_status status = {0, 0};
    *output = NULL;
    *output_length = 0;
    *initiator = NULL;
    gss_buffer_desc input = {length, (void *)token};
    gss_buffer_desc reply = {0, NULL};
    gss_name_t source = NULL;
    status.major = accept(&status.minor, context, credential, &input, NULL, &source, NULL, &reply, NULL, NULL, NULL);
    take_buffer(functions, &reply, output, output_length);
    OM_uint32 minor;
    if (!cgss_failed(status) && !cgss_continue_needed(status) && source != NULL) {
        gss_buffer_desc name = {0, NULL};
        cgss_status named = {0, 0};
        named.major = display_name(&named.minor, source, &name, NULL);
        if (cgss_failed(named)) {
            status = named;
        } else {
            *initiator = malloc(name.length + 1);
            if (*initiator != NULL) {
                memcpy(*initiator, name.value, name.length);
                (*initiator)[name.length] = 0;
            }
            release_buffer(&minor, &name);
        }
    }
    if (source != NULL) release_name(&minor, &source);
    return status;
}

cgss_status cgss_wrap(const cgss_functions *functions, void *context, int confidential, const uint8_t *bytes, size_t length,
                      uint8_t **output, size_t *output_length) {
    wrap_fn wrap = (wrap_fn)functions->gss_wrap;
    cgss_status status = {0, 0};
    gss_buffer_desc input = {length, (void *)bytes};
    gss_buffer_desc token = {0, NULL};
    status.major = wrap(&status.minor, context, confidential, GSS_C_QOP_DEFAULT, &input, NULL, &token);
    take_buffer(functions, &token, output, output_length);
    return status;
}

cgss_status cgss_unwrap(const cgss_functions *functions, void *context, const uint8_t *token, size_t length, uint8_t **output,
                        size_t *output_length, int *confidential) {
    unwrap_fn unwrap = (unwrap_fn)functions->gss_unwrap;
    cgss_status status = {0, 0};
    gss_buffer_desc input = {length, (void *)token};
    gss_buffer_desc plain = {0, NULL};
    *confidential = 0;
    status.major = unwrap(&status.minor, context, &input, &plain, confidential, NULL);
    take_buffer(functions, &plain, output, output_length);
    return status;
}

void cgss_delete_context(const cgss_functions *functions, void **context) {
    delete_fn delete_context = (delete_fn)functions->gss_delete_sec_context;
    OM_uint32 minor;
    if (*context != NULL) delete_context(&minor, context, NULL);
    *context = NULL;
}

/// Appends the texts of one status code to `text`.
static void append_status(const cgss_functions *functions, OM_uint32 code, int type, char *text, size_t capacity) {
    display_status_fn display = (display_status_fn)functions->gss_display_status;
    release_buffer_fn release = (release_buffer_fn)functions->gss_release_buffer;
    OM_uint32 more = 0, minor;
    // A bound on the messages, in case a library never clears `more`.
    for (int round = 0; round < 8; round++) {
        gss_buffer_desc message = {0, NULL};
        if (display(&minor, code, type, NULL, &more, &message) != GSS_S_COMPLETE) break;
        size_t used = strlen(text);
        if (used > 0 && used + 2 < capacity) {
            memcpy(text + used, "; ", 3);
            used += 2;
        }
        size_t room = capacity - used - 1;
        size_t count = message.length < room ? message.length : room;
        memcpy(text + used, message.value, count);
        text[used + count] = 0;
        release(&minor, &message);
        if (more == 0) break;
    }
}

void cgss_status_text(const cgss_functions *functions, cgss_status status, char *text, size_t capacity) {
    if (capacity == 0) return;
    text[0] = 0;
    append_status(functions, status.major, GSS_C_GSS_CODE, text, capacity);
    if (status.minor != 0) append_status(functions, status.minor, GSS_C_MECH_CODE, text, capacity);
}
