/* SPDX-License-Identifier: LGPL-2.1-or-later OR MIT */
/*
 * libmpkshm: messages and request/response between processes over
 * protection-key-tagged shared memory channels.  See Documentation/api.md.
 *
 * Every function that can fail returns a negative errno value; the library
 * never prints and never aborts on the caller's behalf.
 */
#ifndef MPKSHM_H
#define MPKSHM_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *mpkshm_version(void);

/*
 * Whether this CPU has protection keys and the kernel enabled them
 * (CPUID.(EAX=7,ECX=0):ECX.OSPKE).  Without them the library still works,
 * with its protection-key layer off.
 */
bool mpkshm_pku_supported(void);

/*
 * A description of a value returned by a libmpkshm function: a negative
 * errno value (or, for convenience, a positive one).  Never NULL; the
 * string is static.
 */
const char *mpkshm_strerror(int err);

#ifdef __cplusplus
}
#endif

#endif /* MPKSHM_H */
