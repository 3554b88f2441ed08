"""Math answer grading: extraction, the grader's rules, math-verify workers."""
