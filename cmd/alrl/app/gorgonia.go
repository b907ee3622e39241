package app

import _ "github.com/alrl/alrl/learner/gorgonia" // registers the pure-Go backend (always compiled in)
