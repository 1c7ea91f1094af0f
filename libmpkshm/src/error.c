// SPDX-License-Identifier: LGPL-2.1-or-later OR MIT
/* Error descriptions. */
#include <string.h>

#include "mpkshm.h"

const char *mpkshm_strerror(int err)
{
	const char *desc;

	if (err < 0)
		err = -err;
	if (err == 0)
		return "Success";
	/* Unlike strerror(), never writes a shared or thread-local buffer. */
	desc = strerrordesc_np(err);
	return desc ? desc : "Unknown error";
}
