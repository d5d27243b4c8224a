"""What a GPU is worth and what to do with it: the pricing (pricing.yaml), the valuation of each action
(valuation) and the economics' inputs from the features, with the decision-quality measures (decisions)."""
