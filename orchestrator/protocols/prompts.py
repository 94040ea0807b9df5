"""The prompt texts of Skeleton-of-Thought and Hogwild, in one light module the simulator reads too.

Laid out so that every request of a thread extends one shared prefix byte for byte (see
`orchestrator.protocols.skeleton` and `orchestrator.protocols.hogwild` for the full layouts).
"""

# Skeleton-of-Thought
SKELETON_ASK = (
    "\n\nBefore solving it, write only the skeleton of a solution: 3 to 8 numbered points of a few words "
    "each, no details.\nSkeleton:\n1."
)
EXPAND_ASK = "Write one point of the skeleton in full, in one to three sentences, and nothing else.\n"
CONCLUDE_ASK = "Putting the points together, give the final answer as \\boxed{answer}.\n"

# Hogwild
NAMES = ("Alice", "Bob", "Carol", "Dave", "Erin", "Frank", "Grace", "Heidi")
SEPARATOR = "\n\n"
PROBLEM = "# Problem"
HISTORY = "### Past steps"
OTHERS = "### Work in progress (others)"
OWN = "### Work in progress (own)"
CUT = "<...>"
CHECK = "Quick check: am I doing redundant work? (yes/no): "
FINISH = "Time is up. Considering all the work so far, the final answer is \\boxed{"
FINISH_TOKENS = 32
RULES = """# Collaborative reasoning

{count} assistants, {names}, solve the problem below together, each writing their own steps at the \
same time. Every finished step is added under "{history}" as **Name [n]:** ... for all to read. Under \
"{others}" you see the step each other assistant is writing right now, cut off at {cut}; under "{own}" \
you write your own next step.

Divide the work: take different parts of the problem, check each other's results, try different \
methods. Before each step, look at what the others have done and are doing; if you are about to repeat \
their work, say so and switch to something else. Now and then you will be asked "{check}"; answer \
honestly and change course if the answer is yes.

Write one step at a time and end it with a blank line. As soon as the problem is solved, any one of \
you writes the final answer as \\boxed{{answer}}, and the work stops."""


def step_header(name: str, number: int) -> str:
    return f"**{name} [{number}]:** "
