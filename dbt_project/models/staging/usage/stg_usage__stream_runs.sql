{{ config(materialized="table") }}

-- One row per stream run of a connection (the records are appended, never rewritten, so
-- every record is one run; a run id seen twice is the same record read twice and kept once).
with source as (
    select * from {{ lake_relation('usage', 'stream_runs') }} as lake
)

select
    {{ lake_columns() }},
    run_id,
    source_channel as channel,
    stream,
    started_at,
    finished_at,
    outcome,
    error,
    requests,
    pages,
    retries,
    throttled,
    token_refreshes,
    bytes_received,
    reports_requested,
    wait_seconds,
    rows_landed,
    bytes_landed,
    quarantined,
    seconds
from source
qualify row_number() over (partition by run_id order by extracted_at desc) = 1
