-- Storefront events with their visitor and session (one row per event).
--
-- Visitor: the logged-in user_id when the event has one, else the anonymous_id, prefixed
-- `user:` / `anonymous:` so the two id spaces cannot collide. Stitching: an anonymous_id that
-- appears together with exactly one user_id on some event of the connection (the visitor
-- logged in) belongs to that user, before and after the log-in; an anonymous_id seen with
-- several user_ids (a shared device) is left anonymous rather than guessed.
--
-- Session: when the source gives a session_id it is used as is (all events carrying it form
-- one session). Events without one are sessionized per connection and visitor: the first
-- event starts a session, and so does every event more than var('session_timeout_minutes')
-- after the visitor's previous event (a gap of exactly the timeout stays in the session;
-- events with the same timestamp are never split). Such a session's id is an md5 of
-- connection, visitor and session start (epoch microseconds): stable across rebuilds unless
-- an earlier event of the session arrives later, or a later log-in stitches an anonymous
-- visitor to a user (the table is rebuilt from all events each time, so both re-key).
{% set timeout_seconds = ((var('session_timeout_minutes') | float) * 60) | int %}
with events as (
    select * from {{ ref('stg_files__events') }}
),

-- anonymous ids seen with exactly one user id on the same connection
identity_links as (
    select
        connection_name,
        anonymous_id,
        min(user_id) as linked_user_id
    from events
    where anonymous_id is not null and user_id is not null
    group by connection_name, anonymous_id
    having count(distinct user_id) = 1
),

identified as (
    select
        events.*,
        case
            when events.user_id is not null then 'user:' || events.user_id
            when identity_links.linked_user_id is not null
                then 'user:' || identity_links.linked_user_id
            when events.anonymous_id is not null then 'anonymous:' || events.anonymous_id
            -- the contract promises one of the ids; an event without either is its own visitor
            else 'event:' || events.event_id
        end as visitor_id,
        events.user_id is null and identity_links.linked_user_id is not null as is_stitched
    from events
    left join identity_links
        on events.connection_name = identity_links.connection_name
        and events.anonymous_id = identity_links.anonymous_id
),

gaps as (
    select
        *,
        lag(occurred_at) over (
            partition by connection_name, visitor_id, source_session_id is null
            order by occurred_at, event_id
        ) as previous_occurred_at
    from identified
),

numbered as (
    select
        *,
        -- running count of session starts among the visitor's events without a source session
        sum(
            case
                when source_session_id is not null then 0
                when previous_occurred_at is null then 1
                when occurred_at > previous_occurred_at + to_seconds({{ timeout_seconds }}) then 1
                else 0
            end
        ) over (
            partition by connection_name, visitor_id, source_session_id is null
            order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as visitor_session_number
    from gaps
),

grouped as (
    select
        *,
        coalesce(
            'source:' || source_session_id,
            'derived:' || visitor_id || ':' || visitor_session_number
        ) as session_key
    from numbered
),

sessionized as (
    select
        *,
        min(occurred_at) over (partition by connection_name, session_key) as session_started_at,
        -- a source session may span an anonymous and an identified visitor: it belongs to
        -- the first identified one, else to its first visitor
        first(visitor_id order by visitor_id like 'user:%' desc, occurred_at, event_id) over (
            partition by connection_name, session_key
        ) as session_visitor_id,
        row_number() over (
            partition by connection_name, session_key order by occurred_at, event_id
        ) as event_sequence
    from grouped
)

select
    event_id,
    case
        when source_session_id is not null then source_session_id
        else md5(connection_name || '|' || visitor_id || '|' || epoch_us(session_started_at))
    end as session_id,
    source_session_id,
    event_sequence,
    connection_name,
    channel,
    storefront_id,
    visitor_id,
    session_visitor_id,
    is_stitched,
    anonymous_id,
    user_id,
    session_started_at,
    {{ local_date('session_started_at') }} as session_date,
    occurred_at,
    event_name,
    funnel_step,
    sku,
    quantity,
    value,
    currency,
    channel_order_id,
    page_url,
    scroll_depth,
    referrer,
    traffic_source,
    experiment_id,
    experiment_variant,
    experiment_unit
from sessionized
