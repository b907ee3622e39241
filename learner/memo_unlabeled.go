package learner

import "context"

// PredictedLoss returns (possibly cached) predicted losses of the learning-loss
// module, or a CapabilityError.
func (m *Memo) PredictedLoss(ctx context.Context, idx []int) ([]float64, error) {
	p, ok := m.Learner.(LossPredictor)
	if !ok {
		return nil, &CapabilityError{Capability: CapLossPrediction, Learner: m.Learner.Describe(),
			Hint: "use the torch backend with trainer: {name: learning_loss}"}
	}
	k := key(CapLossPrediction, 0, idx)
	if v, ok := m.get(k); ok {
		return v.([]float64), nil
	}
	s, err := p.PredictedLoss(ctx, idx)
	if err != nil {
		return nil, err
	}
	m.put(k, s)
	return s, nil
}

// LabeledProb returns (possibly cached) VAAL discriminator probabilities that
// each sample is labeled, or a CapabilityError.
func (m *Memo) LabeledProb(ctx context.Context, idx []int) ([]float64, error) {
	v, ok := m.Learner.(VAALModel)
	if !ok {
		return nil, &CapabilityError{Capability: CapVAAL, Learner: m.Learner.Describe(),
			Hint: "use the torch backend with trainer: {name: vaal}"}
	}
	k := key(CapVAAL, 0, idx)
	if c, ok := m.get(k); ok {
		return c.([]float64), nil
	}
	s, err := v.LabeledProb(ctx, idx)
	if err != nil {
		return nil, err
	}
	m.put(k, s)
	return s, nil
}
