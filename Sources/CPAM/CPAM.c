#include "CPAM.h"

#include <stdlib.h>
#include <string.h>

// Linux-PAM's ABI (security/_pam_types.h, security/pam_appl.h): the values and structs a login uses.
enum {
    PAM_SUCCESS = 0,
    PAM_SYSTEM_ERR = 4,
    PAM_BUF_ERR = 5,
    PAM_CONV_ERR = 19,
    PAM_ABORT = 26,
    PAM_USER = 2,
    PAM_RHOST = 4,
    PAM_FAIL_DELAY = 10,
    PAM_SILENT = 0x8000,
    PAM_DISALLOW_NULL_AUTHTOK = 0x0001,
    PAM_PROMPT_ECHO_OFF = 1,
    PAM_PROMPT_ECHO_ON = 2,
    PAM_ERROR_MSG = 3,
    PAM_TEXT_INFO = 4,
    // PAM_MAX_NUM_MSG: the most messages one conversation call may carry.
    PAM_MAX_NUM_MSG = 32,
};

struct pam_message {
    int msg_style;
    const char *msg;
};

struct pam_response {
    char *resp;
    int resp_retcode;
};

struct pam_conv {
    int (*conv)(int count, const struct pam_message **messages, struct pam_response **responses, void *context);
    void *appdata_ptr;
};

typedef struct pam_handle pam_handle_t;

typedef int (*pam_start_fn)(const char *service, const char *user, const struct pam_conv *conversation, pam_handle_t **handle);
typedef int (*pam_start_confdir_fn)(const char *service, const char *user, const struct pam_conv *conversation, const char *confdir,
                                    pam_handle_t **handle);
typedef int (*pam_flags_fn)(pam_handle_t *handle, int flags);
typedef int (*pam_get_item_fn)(const pam_handle_t *handle, int type, const void **item);
typedef int (*pam_set_item_fn)(pam_handle_t *handle, int type, const void *item);
typedef int (*pam_end_fn)(pam_handle_t *handle, int status);
typedef void (*pam_delay_fn)(int status, unsigned delay, void *context);

/// Frees the first `count` responses and the array, wiping the answers first (they are the password).
static void discard(struct pam_response *responses, int count) {
    for (int index = 0; index < count; index++) {
        if (responses[index].resp != NULL) {
            explicit_bzero(responses[index].resp, strlen(responses[index].resp));
            free(responses[index].resp);
        }
    }
    free(responses);
}

/// The conversation: `context` is the login's password. A prompt, echoed or not, is answered with it (with
/// the user given to pam_start, PAM asks for no name; a module that asks for a code or token in clear gets
/// the one secret the client sent); a message to show is acknowledged with no answer. The answers are
/// malloc'd, as PAM frees them.
static int conversation(int count, const struct pam_message **messages, struct pam_response **responses, void *context) {
    const char *password = context;
    if (count <= 0 || count > PAM_MAX_NUM_MSG || messages == NULL || responses == NULL || password == NULL) return PAM_CONV_ERR;
    struct pam_response *answers = calloc((size_t)count, sizeof *answers);
    if (answers == NULL) return PAM_BUF_ERR;
    for (int index = 0; index < count; index++) {
        // Linux-PAM passes an array of pointers to messages (Solaris a pointer to an array): this is Linux's.
        const struct pam_message *message = messages[index];
        if (message == NULL) {
            discard(answers, count);
            return PAM_CONV_ERR;
        }
        switch (message->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
        case PAM_PROMPT_ECHO_ON:
            answers[index].resp = strdup(password);
            if (answers[index].resp == NULL) {
                discard(answers, count);
                return PAM_BUF_ERR;
            }
            break;
        case PAM_ERROR_MSG:
        case PAM_TEXT_INFO:
            break;
        default:
            // A binary prompt or another extension: nothing here can answer it.
            discard(answers, count);
            return PAM_CONV_ERR;
        }
    }
    *responses = answers;
    return PAM_SUCCESS;
}

/// Set as PAM_FAIL_DELAY so that PAM calls it instead of sleeping after a failed pam_authenticate: the
/// sleep (2 s with pam_unix, pam_pwdfile, pam_faildelay) would hold one of the few password-check threads,
/// so that a handful of wrong guesses would stall every login. socksd's own login throttling answers
/// repeated failures instead.
static void no_delay(int status, unsigned delay, void *context) {
    (void)status;
    (void)delay;
    (void)context;
}

void cpam_login(const cpam_functions *functions, const char *service, const char *confdir, const char *user, const char *password,
                const char *rhost, cpam_result *result) {
    memset(result, 0, sizeof *result);
    result->stage = CPAM_START_FAILED;
    result->code = PAM_SYSTEM_ERR;
    // POSIX lets dlsym's object pointers be converted to function pointers: these are the functions of
    // these names in libpam.so.0, whose prototypes are Linux-PAM's.
    pam_start_fn start = (pam_start_fn)functions->pam_start;
    pam_start_confdir_fn start_confdir = (pam_start_confdir_fn)functions->pam_start_confdir;
    pam_flags_fn authenticate = (pam_flags_fn)functions->pam_authenticate;
    pam_flags_fn account = (pam_flags_fn)functions->pam_acct_mgmt;
    pam_get_item_fn get_item = (pam_get_item_fn)functions->pam_get_item;
    pam_set_item_fn set_item = (pam_set_item_fn)functions->pam_set_item;
    pam_end_fn end = (pam_end_fn)functions->pam_end;
    if (start == NULL || authenticate == NULL || account == NULL || get_item == NULL || set_item == NULL || end == NULL) return;
    if (confdir != NULL && start_confdir == NULL) {
        result->code = PAM_ABORT;
        return;
    }

    // pam_start copies the struct; the password it points to outlives the handle (the caller's, for the call).
    struct pam_conv conv = {conversation, (void *)password};
    pam_handle_t *handle = NULL;
    int status = confdir != NULL ? start_confdir(service, user, &conv, confdir, &handle) : start(service, user, &conv, &handle);
    if (status != PAM_SUCCESS) {
        // Linux-PAM frees the handle and sets it to NULL itself when pam_start fails.
        result->code = status;
        return;
    }
    // A function pointer passed as the item, as Linux-PAM documents for PAM_FAIL_DELAY.
    set_item(handle, PAM_FAIL_DELAY, (const void *)no_delay);
    // The client's address, for modules that decide by it (pam_access, pam_rhosts): a login whose address
    // could not be set is refused rather than checked without it.
    if (rhost != NULL) {
        status = set_item(handle, PAM_RHOST, rhost);
        if (status != PAM_SUCCESS) {
            result->code = status;
            end(handle, status);
            return;
        }
    }

    status = authenticate(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (status != PAM_SUCCESS) {
        result->stage = CPAM_AUTHENTICATE_FAILED;
        result->code = status;
        end(handle, status);
        return;
    }
    status = account(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (status != PAM_SUCCESS) {
        result->stage = CPAM_ACCOUNT_FAILED;
        result->code = status;
        end(handle, status);
        return;
    }
    // PAM_USER belongs to the handle: copied out before pam_end frees it.
    const void *item = NULL;
    if (get_item(handle, PAM_USER, &item) == PAM_SUCCESS && item != NULL) {
        size_t length = strlen(item);
        if (length <= CPAM_USER_CAPACITY) memcpy(result->user, item, length + 1);
    }
    result->stage = CPAM_ACCEPTED;
    result->code = PAM_SUCCESS;
    end(handle, PAM_SUCCESS);
}
