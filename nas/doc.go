// Package nas will hold Active-iNAS (Geifman & El-Yaniv 2019): an
// architecture space that grows with the labeled set, searched incrementally
// each round. Until it lands, runs use the fixed architecture of
// learner.ModelSpec.
package nas
