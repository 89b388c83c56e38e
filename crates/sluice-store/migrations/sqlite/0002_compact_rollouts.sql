-- A rollout's plan is stored once, apart from its state (which keeps only the cursor), and
-- desired state is derived: a target's desired release for a service is what the newest
-- rollout not yet folded that touched it says (from its plan and state), else the `desired`
-- row that rollouts folded in after they ended left. A transition writes O(1) whatever the
-- fleet size; folding a finished rollout writes its touched targets once, off the decision
-- path. Rollouts stored before this keep their plan in `state` (`plan` NULL). Their desired
-- rows were written one by one: the finished ones are folded already; the active ones are
-- laid over rows that agree with them (their version counts are only ever larger).
ALTER TABLE rollouts ADD COLUMN plan TEXT;
ALTER TABLE rollouts ADD COLUMN folded INTEGER NOT NULL DEFAULT 0 CHECK (folded IN (0, 1));
UPDATE rollouts SET folded = 1 WHERE active = 0;
CREATE INDEX rollouts_unfolded ON rollouts (created_at, id) WHERE folded = 0;
