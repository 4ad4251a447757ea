-- One row per order that names a buyer: the buyer's identity on its connection and the
-- unified customer it belongs to. E-mails arrive hashed with a salt that only dbt's
-- connection knows (int_orders_unioned, plugins/channelhouse_hashing.py). Identities
-- are merged across channels and connections only when the hashed e-mail matches; Amazon
-- gives an anonymized relay address per buyer, which never matches another channel.
with orders as (
    select
        order_id,
        channel,
        connection_name,
        ordered_at,
        channel_customer_id,
        customer_email_hash as email_hash
    from {{ ref('int_orders_unioned') }}
),

identified as (
    select
        *,
        'cid_' || left(md5(connection_name || '|' || coalesce(channel_customer_id, email_hash)), 24)
            as customer_identity_id
    from orders
    where coalesce(channel_customer_id, email_hash) is not null
),

identity_emails as (
    -- an identity whose e-mail changed counts under its latest e-mail
    select customer_identity_id, arg_max(email_hash, ordered_at) as latest_email_hash
    from identified
    where email_hash is not null
    group by customer_identity_id
)

select
    identified.order_id,
    identified.channel,
    identified.connection_name,
    identified.customer_identity_id,
    identified.channel_customer_id,
    identity_emails.latest_email_hash as email_hash,
    case
        when identity_emails.latest_email_hash is not null
            then 'cus_' || left(md5('email|' || identity_emails.latest_email_hash), 24)
        else 'cus_' || left(md5('identity|' || identified.customer_identity_id), 24)
    end as customer_id
from identified
left join identity_emails using (customer_identity_id)
