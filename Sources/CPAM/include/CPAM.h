#ifndef CPAM_H
#define CPAM_H

// One PAM login (pam_start, pam_authenticate, pam_acct_mgmt, PAM_USER, pam_end) in C, for socksd's PAMService.
//
// socksd loads libpam.so.0 at run time (dlopen, in Swift), so that building it needs no PAM headers and a
// daemon without --pam-service never loads PAM. What stays in C is what Swift cannot spell well: the
// conversation function PAM calls back (a C function pointer that receives arrays of C structs and must
// answer with malloc'd memory PAM frees), and the Linux-PAM structs it uses. Their layout is Linux-PAM's
// ABI (security/_pam_types.h), stable since Linux-PAM 0.x, copied here so that no -dev package is needed.

/// The libpam functions a login calls, as `dlsym` found them (NULL when absent): the addresses of
/// `pam_start`, `pam_start_confdir` (Linux-PAM 1.4 and later), `pam_authenticate`, `pam_acct_mgmt`,
/// `pam_get_item`, `pam_set_item` and `pam_end`, whose Linux-PAM prototypes CPAM.c casts them to.
typedef struct {
    void *pam_start;
    void *pam_start_confdir;
    void *pam_authenticate;
    void *pam_acct_mgmt;
    void *pam_get_item;
    void *pam_set_item;
    void *pam_end;
} cpam_functions;

/// Where a login ended.
typedef enum {
    /// pam_authenticate and pam_acct_mgmt both succeeded.
    CPAM_ACCEPTED = 0,
    /// pam_start (or pam_start_confdir) failed: `code` is its status.
    CPAM_START_FAILED = 1,
    /// pam_authenticate refused the password (or failed): `code` is its status.
    CPAM_AUTHENTICATE_FAILED = 2,
    /// pam_acct_mgmt refused the account (expired, locked, not allowed now): `code` is its status.
    CPAM_ACCOUNT_FAILED = 3,
} cpam_stage;

/// The longest user name PAM_USER may be copied out as, without its terminating zero (RFC 1929's limit).
#define CPAM_USER_CAPACITY 255

/// What one login found.
typedef struct {
    cpam_stage stage;
    /// The PAM status of that stage (PAM_SUCCESS, 0, when accepted).
    int code;
    /// PAM_USER after an accepted login, zero-terminated: the name as PAM knows it, which a module may have
    /// changed (mapped, canonicalised). Empty when not accepted, when PAM has none, or when it is longer
    /// than CPAM_USER_CAPACITY.
    char user[CPAM_USER_CAPACITY + 1];
} cpam_result;

/// Runs one login of `user` with `password` under `service`, reading the service's file from `confdir`
/// (pam_start_confdir) when it is not NULL, or from the system's PAM configuration otherwise. `rhost`, when
/// not NULL, is set as PAM_RHOST (the client's address as text) before pam_authenticate, so that modules
/// such as pam_access can decide by it; a failure to set it fails the login at its start. Blocks for as
/// long as the service's modules take. The conversation answers every prompt with `password`; PAM's delay
/// after a failure is turned off (PAM_FAIL_DELAY), since socksd throttles failed logins itself and a
/// delay would only hold a password-check thread. `service`, `user`, `password` and `rhost` must be
/// zero-terminated and stay valid for the call; nothing of them is kept after it (PAM copies PAM_RHOST).
void cpam_login(const cpam_functions *functions, const char *service, const char *confdir, const char *user, const char *password,
                const char *rhost, cpam_result *result);

#endif
