// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
#include "internal.h"

MPKSHM_EXPORT const char *mpkshm_version(void)
{
	return MPKSHM_VERSION;
}
