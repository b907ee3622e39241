// Package nas is Active-iNAS (Geifman & El-Yaniv 2019, "Deep active
// learning with a neural architecture search"): an architecture space of
// residual networks (Arch: stacks x blocks, width), the paper's incremental
// neighbourhood (the current architecture, one more block, one more stack
// of about the same depth, as the authors' code builds it), and Learner, a
// learner.Learner that runs one search step per round (PrepareRound, or
// Fit) and answers every capability with the current architecture's network. The
// networks are learner.ModelSpec layer lists, so nas never touches a tensor
// library; any backend that builds the residual layer types runs them.
package nas
