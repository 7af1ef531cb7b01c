/* version.c: the version the library was built as. */
#include "shmanager.h"

#define SHMA_STR_(x) #x
#define SHMA_STR(x) SHMA_STR_(x)

const char *shma_version(void) {
    return SHMA_STR(SHMA_VERSION_MAJOR) "." SHMA_STR(SHMA_VERSION_MINOR) "." SHMA_STR(SHMA_VERSION_PATCH);
}
