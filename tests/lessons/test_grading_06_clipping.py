"""Lesson 06 (gradient clipping) through nbgrader autograde: the reference, shortcut
attempts (torch.nn.utils' clipping, the course's own answers), differently written
correct answers (float32 arithmetic among them), typical mistakes (source 001's
sentence read word for word among them), and a blank notebook each get the score they
deserve on every test cell."""

from lesson_harness import BLANK, expected_scores, grade_lesson, max_scores

LESSON = "06_clipping"

SUBMISSIONS = {
    "reference": {},
    # torch.nn.utils does the work.
    "forbidden": {
        "global_grad_norm": """
            grads = [p.grad for p in params if p.grad is not None]
            return float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
        """,
        "clip_grad_norm": "return float(torch.nn.utils.clip_grad_norm_(params, max_norm))",
        "clip_grad_value": "torch.nn.utils.clip_grad_value_(params, clip_value)",
    },
    # The course's reference answers.
    "forbidden_reference": {
        "global_grad_norm": "return rnncourse.global_grad_norm(params)",
        "clip_grad_norm": "return rnncourse.clip_grad_norm(params, max_norm)",
        "clip_grad_value": "rnncourse.clip_grad_value(params, clip_value)",
    },
    # Correct, but written another way: one concatenated vector; a tensor norm returned
    # and the gradients replaced rather than scaled in place; masked assignment.
    "alternative": {
        "global_grad_norm": """
            flat = [p.grad.reshape(-1).double() for p in params if p.grad is not None]
            return torch.cat(flat).norm().item() if flat else 0.0
        """,
        "clip_grad_norm": """
            with_grad = [p for p in params if p.grad is not None]
            total = torch.zeros(())
            for p in with_grad:
                total = total + (p.grad.double() ** 2).sum()
            total = total.sqrt()
            coef = max_norm / (total + 1e-6)
            if coef < 1:
                for p in with_grad:
                    p.grad = p.grad * coef.to(p.grad.dtype)
            return total
        """,
        "clip_grad_value": """
            for p in params:
                if p.grad is None:
                    continue
                g = p.grad
                g[g > clip_value] = clip_value
                g[g < -clip_value] = -clip_value
        """,
    },
    # Correct, in float32 arithmetic; the factor min(1, ...) applied to every gradient.
    "alternative_float32": {
        "global_grad_norm": """
            grads = [p.grad.float().flatten() for p in params if p.grad is not None]
            return float(torch.cat(grads).norm()) if grads else 0.0
        """,
        "clip_grad_norm": """
            with_grad = [p for p in params if p.grad is not None]
            if not with_grad:
                return 0.0
            total = torch.sqrt(sum((p.grad.float() ** 2).sum() for p in with_grad))
            scale = torch.clamp(max_norm / (total + 1e-6), max=1.0)
            for p in with_grad:
                p.grad.copy_(p.grad.float() * scale)
            return float(total)
        """,
    },
    # Typical mistakes, one per exercise.
    "wrong_a": {
        # adds up the per-tensor norms
        "global_grad_norm": (
            "return sum(float(p.grad.norm()) for p in params if p.grad is not None)"
        ),
        # clips every tensor on its own instead of all together
        "clip_grad_norm": """
            total = 0.0
            for p in params:
                if p.grad is not None:
                    n = float(p.grad.norm())
                    total += n * n
                    if n > max_norm:
                        p.grad.mul_(max_norm / (n + 1e-6))
            return math.sqrt(total)
        """,
        # clamps only the upper side
        "clip_grad_value": """
            for p in params:
                if p.grad is not None:
                    p.grad.clamp_(max=clip_value)
        """,
    },
    "wrong_b": {
        # forgets parameters without a gradient: None ** 2
        "global_grad_norm": "return math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))",
        # returns the norm after clipping
        "clip_grad_norm": """
            params = [p for p in params if p.grad is not None]
            total = math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
            scale = min(1.0, max_norm / (total + 1e-6))
            for p in params:
                p.grad.mul_(scale)
            return math.sqrt(sum(float((p.grad ** 2).sum()) for p in params))
        """,
        # not in place: returns clipped copies, the gradients stay as they were
        "clip_grad_value": (
            "return [p.grad.clamp(-clip_value, clip_value) for p in params if p.grad is not None]"
        ),
    },
    # Scales every gradient to length max_norm, also short ones (scaled UP).
    "wrong_c": {
        "clip_grad_norm": """
            params = list(params)
            total = global_grad_norm(params)
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(max_norm / (total + 1e-6))
            return total
        """,
    },
    # Walks model.parameters() twice: the generator is empty the second time.
    "wrong_d": {
        "clip_grad_norm": """
            total = global_grad_norm(params)
            scale = min(1.0, max_norm / (total + 1e-6))
            for p in params:
                if p.grad is not None:
                    p.grad.mul_(scale)
            return total
        """,
    },
    # Source 001's sentence read word for word: "divide the gradient by the threshold".
    "wrong_e": {
        "clip_grad_norm": """
            params = list(params)
            total = global_grad_norm(params)
            if total > max_norm:
                for p in params:
                    if p.grad is not None:
                        p.grad.div_(max_norm)
            return total
        """,
    },
    "blank": BLANK,
}

EXERCISES = ["global_grad_norm", "clip_grad_norm", "clip_grad_value"]
FULL_MARKS = {"reference", "alternative", "alternative_float32"}


def test_autograde_scores(tmp_path):
    assert set(max_scores(LESSON)) == {f"test_{name}" for name in EXERCISES}
    got = grade_lesson(LESSON, SUBMISSIONS, tmp_path)
    assert got == expected_scores(LESSON, SUBMISSIONS, FULL_MARKS)
