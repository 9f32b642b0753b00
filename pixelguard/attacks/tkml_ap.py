"""TkML-AP-U, the baseline TkMIA is compared with (Hu et al., ICCV 2021).

Untargeted top-k attack: push every relevant tag Y out of the top k, with the average-top-K
loss over psi^Y_j = max_{y in Y} f_y - f_j, K = m - k. Same optimiser, lambda, budget and
loop as TkMIA (the TkMIA authors' protocol), so only the loss differs. Its condition is
TkMIA's: the tags to hide have left the top k; without --hide they are all of Y.
"""

from __future__ import annotations

from pixelguard.attacks.base import AttackPlan, Method, PlanContext
from pixelguard.attacks.tkmia import DEFAULT_L2_WEIGHT, TkmiaMethod, TkmiaObjective, checked_k, tag_plan
from pixelguard.tagging import select_tags, tag_indices


def top_k_untargeted_objective(relevant: tuple[int, ...], k: int, l2_weight: float = DEFAULT_L2_WEIGHT) -> TkmiaObjective:
    """lambda*||v||^2 + area_scale * ATk_{m-k}(psi^Y): the best relevant score - the bottom m-k mean.

    That is TkMIA's loss with every relevant tag hidden and none kept, so it is built as one.
    """
    return TkmiaObjective(hidden=tuple(relevant), kept=(), k=k, l2_weight=l2_weight)


class TopKUntargetedMethod(Method):
    name = "tkml-ap"
    summary = "push all of the photo's top-k tags out of the top k (TkML-AP-U baseline)"
    title = "Hide all of the top tags"
    paper = "TkML-AP-U (Hu et al., ICCV 2021)"
    # TkMIA's options and condition (the TkMIA authors' protocol), with its own loss.
    options_type = TkmiaMethod.options_type
    conditions = TkmiaMethod.conditions
    needs_hierarchy = TkmiaMethod.needs_hierarchy

    def plan(self, context: PlanContext) -> AttackPlan:
        k = checked_k(context)
        hidden = tag_indices(context.labels, context.options.hide) or context.clean_logits.topk(k).indices.tolist()
        selection = select_tags(context.labels, context.clean_logits, hidden, k)
        return tag_plan(context, selection, top_k_untargeted_objective(selection.relevant, k))
