{{ config(meta={'dagster': {'ref': {'name': 'sessions'}}}) }}
-- Every imported storefront event (stg_files__events) lands in exactly one session:
-- per connection, the sessions' events add up to the staged events. A row is a connection
-- that differs.
with staged as (
    select connection_name, count(*) as events
    from {{ ref('stg_files__events') }}
    group by all
),

sessionized as (
    select connection_name, sum(events) as events
    from {{ ref('sessions') }}
    group by all
)

select connection_name, staged.events, sessionized.events as session_events
from staged
full outer join sessionized using (connection_name)
where coalesce(staged.events, 0) != coalesce(sessionized.events, 0)
