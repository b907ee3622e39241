package envs

import "fmt"

// Oracle reveals the label of a pool sample when, and only when, it is
// acquired, and counts the labels it gave out.
type Oracle struct {
	labels   []int
	pool     map[int]bool
	revealed map[int]bool
}

// NewOracle holds the true labels of a data set and the pool it may label.
func NewOracle(labels []int, pool []int) *Oracle {
	p := make(map[int]bool, len(pool))
	for _, i := range pool {
		p[i] = true
	}
	return &Oracle{labels: labels, pool: p, revealed: map[int]bool{}}
}

// Label reveals the label of pool index i; asking twice, or for an index
// outside the pool, is an error.
func (o *Oracle) Label(i int) (int, error) {
	if !o.pool[i] {
		return 0, fmt.Errorf("oracle: index %d is not in the pool", i)
	}
	if o.revealed[i] {
		return 0, fmt.Errorf("oracle: pool index %d was already labeled", i)
	}
	o.revealed[i] = true
	return o.labels[i], nil
}

// InPool reports whether i is a pool index.
func (o *Oracle) InPool(i int) bool { return o.pool[i] }

// Count returns how many labels were revealed.
func (o *Oracle) Count() int { return len(o.revealed) }

func (o *Oracle) restore(i int) error {
	if !o.pool[i] {
		return fmt.Errorf("labeled index %d is not in the pool of this split (was the config changed?)", i)
	}
	if o.revealed[i] {
		return fmt.Errorf("labeled index %d appears twice", i)
	}
	o.revealed[i] = true
	return nil
}

// Annotator answers label queries in place of the data set's labels: a
// person, through files or a web page. Answer reports false while it has no
// answer for pool index i yet.
type Annotator interface {
	Answer(i int) (label int, ok bool)
}

// AwaitingLabelsError is returned by Reset and Step when the annotator has
// not answered every queried index yet; nothing of the step was applied, so
// the same call succeeds once the answers are in.
type AwaitingLabelsError struct {
	Round   int   // the round whose labels are missing (0 = the initial set)
	Indices []int // every queried pool index of that round, in query order
	Missing int   // how many of them have no answer yet
}

func (e *AwaitingLabelsError) Error() string {
	return fmt.Sprintf("round %d waits for %d of %d labels from the annotator", e.Round, e.Missing, len(e.Indices))
}
