-- One row per experiment × unit (the visitor of int_events_sessionized: a logged-in or
-- stitched user, else the anonymous id) from the storefront's exposure events: the first
-- exposure (time and variant) and how many variants the unit saw. A unit that saw two
-- variants is flagged (is_multi_variant) and left out of every result: its outcome belongs to
-- neither arm.
with exposures as (
    select * from {{ ref('int_events_sessionized') }}
    where experiment_id is not null and experiment_variant is not null
),

units as (
    select
        connection_name,
        experiment_id,
        visitor_id as unit_id,
        first(experiment_unit order by occurred_at, event_id) as experiment_unit,
        first(experiment_variant order by occurred_at, event_id) as variant,
        min(occurred_at) as first_exposed_at,
        max(occurred_at) as last_exposed_at,
        count(*) as exposures,
        count(distinct experiment_variant) as variants_seen
    from exposures
    group by connection_name, experiment_id, visitor_id
)

select
    md5(connection_name || '|' || experiment_id || '|' || unit_id) as experiment_exposure_id,
    connection_name,
    experiment_id,
    unit_id,
    experiment_unit,
    variant,
    first_exposed_at,
    {{ local_date('first_exposed_at') }} as exposure_date,
    last_exposed_at,
    exposures,
    variants_seen,
    variants_seen > 1 as is_multi_variant
from units
