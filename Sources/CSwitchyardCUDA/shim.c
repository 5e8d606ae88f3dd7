#include "CSwitchyardCUDA.h"
