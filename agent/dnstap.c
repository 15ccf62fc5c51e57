#include "dnstap.h"
